import { mkdir, writeFile } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import {
  analyzeAudio,
  closeAudioWorkers,
  composeBlueprint,
  ffmpegInput,
  measurePreview,
  mixAndMaster,
  renderInstrumental,
  renderVocals,
  runFfmpeg,
  STYLE_NAMES,
  uploadDemuxer,
  type PreviewMeasures,
} from '@mcm/audio';
import { ROOT } from './stack';

/**
 * `npm run listen [out-dir]`: renders each style from both fixtures through the real engine
 * (analysis → compose → vocals + instrumental → mix), and writes per preview the MP3, its stems,
 * a spectrogram PNG and the mix measures of `libs/audio/src/mix/measures.ts` (a table on stdout,
 * `measures.json` beside the files). The folder (default `listening/`) is not committed.
 */
const FIXTURES = ['test/fixtures/hum-phone.m4a', 'test/fixtures/voice-clean.wav'];

type Measured = PreviewMeasures & { preview: string };

function table(rows: Measured[]): string {
  const percent = (share: number) => `${(share * 100).toFixed(1)} %`;
  const signed = (value: number) => `${value >= 0 ? '+' : ''}${value.toFixed(1)}`;
  return [
    '| preview | LUFS | dBTP | < 160 Hz (≤ 45 %) | > 2 kHz (≥ 3 %) | slope dB/oct (−3…−5.5) | chorus − verse LU (≥ +3) | bar-line drop dB, preview / instrumental (≤ 3) | L/R correlation (> 0.2) | voice over band LU (0…+6) | vocal floor dB (≥ 30) | vocal > 11 kHz dB |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (row) =>
        `| ${row.preview} | ${row.integrated_lufs.toFixed(1)} | ${row.true_peak_dbtp.toFixed(1)} | ${percent(row.low_share)} | ${percent(row.high_share)} | ${row.slope_db_per_octave.toFixed(2)} | ${signed(row.chorus_over_verse_lu)} | ${row.bar_line_drop_db.toFixed(1)} / ${row.instrumental_bar_line_drop_db.toFixed(1)} | ${row.stereo_correlation.toFixed(2)} | ${signed(row.voice_over_band_lu[0])} … ${signed(row.voice_over_band_lu[1])} | ${row.vocal_floor_db.toFixed(1)} | ${row.vocal_air_db.toFixed(1)} |`,
    ),
  ].join('\n');
}

async function main(): Promise<void> {
  const out = resolve(process.argv[2] ?? join(ROOT, 'listening'));
  await mkdir(out, { recursive: true });
  const rows: Measured[] = [];
  try {
    for (const fixture of FIXTURES) {
      const input = join(ROOT, fixture);
      const take = basename(fixture, extname(fixture));
      const format = uploadDemuxer(extname(fixture).slice(1))!;
      const analysis = await analyzeAudio(input, format);
      for (const style of STYLE_NAMES) {
        const name = `${style}-${take}`;
        const stems = join(out, name);
        await mkdir(stems, { recursive: true });
        const blueprint = composeBlueprint(analysis, { momentId: `listen-${name}`, style, outputKind: 'preview' });
        const instrumental = join(stems, 'instrumental.wav');
        const vocals = join(stems, 'vocals.wav');
        await Promise.all([renderInstrumental(blueprint, instrumental), renderVocals(input, blueprint, analysis, vocals, { format })]);
        const preview = join(out, `${name}.mp3`);
        await mixAndMaster({ blueprint, instrumental, vocals, outPreviewMp3: preview, outMasterWav: join(stems, 'master.wav') });
        await runFfmpeg([...ffmpegInput(preview, 'mp3'), '-lavfi', 'showspectrumpic=s=1280x512:legend=1', '-y', join(out, `${name}.png`)]);
        await writeFile(join(stems, 'blueprint.json'), JSON.stringify(blueprint, null, 2));
        const row = { preview: basename(preview), ...(await measurePreview({ preview, instrumental, vocals }, blueprint)) };
        rows.push(row);
        process.stdout.write(`${name}: rendered\n`);
      }
    }
    await writeFile(join(out, 'measures.json'), JSON.stringify(rows, null, 2));
    process.stdout.write(`\n${table(rows)}\n\nFiles in ${out}\n`);
  } finally {
    await closeAudioWorkers();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
