import { mkdir, writeFile } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { parseTimeSignature, type Blueprint } from '@mcm/pipeline';
import {
  analyzeAudio,
  closeAudioWorkers,
  closeVocalWorkers,
  composeBlueprint,
  measureLoudness,
  mixAndMaster,
  renderInstrumental,
  renderVocals,
  runFfmpeg,
  spanLoudness,
  spectralBalance,
  STYLE_NAMES,
} from '@mcm/audio';
import { ROOT } from './stack';

/**
 * `npm run listen [out-dir]`: renders each style from both fixtures through the real engine
 * (analysis → compose → vocals + instrumental → mix), and writes per preview the MP3, its stems,
 * a spectrogram PNG and the mix measures (a table on stdout, `measures.json` beside the files).
 * The folder (default `listening/`) is not committed.
 */
const FIXTURES = ['test/fixtures/hum-phone.m4a', 'test/fixtures/voice-clean.wav'];

interface Measured {
  preview: string;
  integrated_lufs: number;
  true_peak_dbtp: number;
  low_share: number;
  high_share: number;
  slope_db_per_octave: number;
  chorus_over_verse_lu: number;
}

/** The first span of the blueprint whose section name matches, in seconds. */
function sectionSpan(blueprint: Blueprint, name: RegExp): { from_s: number; to_s: number } | null {
  const { beatsPerBar } = parseTimeSignature(blueprint.time_signature);
  const secondsPerBar = (beatsPerBar * 60) / blueprint.tempo_bpm;
  let bar = 0;
  for (const section of blueprint.sections) {
    if (name.test(section.name)) return { from_s: bar * secondsPerBar, to_s: (bar + section.bars) * secondsPerBar };
    bar += section.bars;
  }
  return null;
}

async function decodeMono(file: string): Promise<Float32Array> {
  const { stdout } = await runFfmpeg(['-i', file, '-map', '0:a:0', '-ac', '1', '-ar', '44100', '-f', 'f32le', 'pipe:1'], { stdout: true });
  return new Float32Array(stdout.buffer.slice(stdout.byteOffset, stdout.byteOffset + (stdout.length - (stdout.length % 4))));
}

async function measure(preview: string, blueprint: Blueprint): Promise<Measured> {
  const [loudness, mono] = await Promise.all([measureLoudness(preview), decodeMono(preview)]);
  const balance = spectralBalance(mono, 44_100);
  const verse = sectionSpan(blueprint, /^verse/i);
  const chorus = sectionSpan(blueprint, /chorus/i);
  const [verseLufs, chorusLufs] = verse && chorus ? await spanLoudness(preview, [verse, chorus]) : [NaN, NaN];
  return { preview: basename(preview), integrated_lufs: loudness.integrated_lufs, true_peak_dbtp: loudness.true_peak_dbtp, ...balance, chorus_over_verse_lu: chorusLufs - verseLufs };
}

function table(rows: Measured[]): string {
  const percent = (share: number) => `${(share * 100).toFixed(1)} %`;
  const signed = (value: number) => `${value >= 0 ? '+' : ''}${value.toFixed(1)}`;
  return [
    '| preview | LUFS | dBTP | < 160 Hz (≤ 45 %) | > 2 kHz (≥ 3 %) | slope dB/oct (−3…−5.5) | chorus − verse LU (≥ +3) |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((row) => `| ${row.preview} | ${row.integrated_lufs.toFixed(1)} | ${row.true_peak_dbtp.toFixed(1)} | ${percent(row.low_share)} | ${percent(row.high_share)} | ${row.slope_db_per_octave.toFixed(2)} | ${signed(row.chorus_over_verse_lu)} |`),
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
      const analysis = await analyzeAudio(input);
      for (const style of STYLE_NAMES) {
        const name = `${style}-${take}`;
        const stems = join(out, name);
        await mkdir(stems, { recursive: true });
        const blueprint = composeBlueprint(analysis, { momentId: `listen-${name}`, style, outputKind: 'preview' });
        const instrumental = join(stems, 'instrumental.wav');
        const vocals = join(stems, 'vocals.wav');
        await Promise.all([renderInstrumental(blueprint, instrumental), renderVocals(input, blueprint, analysis, vocals)]);
        const preview = join(out, `${name}.mp3`);
        await mixAndMaster({ blueprint, instrumental, vocals, outPreviewMp3: preview, outMasterWav: join(stems, 'master.wav') });
        await runFfmpeg(['-i', preview, '-lavfi', 'showspectrumpic=s=1280x512:legend=1', '-y', join(out, `${name}.png`)]);
        await writeFile(join(stems, 'blueprint.json'), JSON.stringify(blueprint, null, 2));
        const row = await measure(preview, blueprint);
        rows.push(row);
        process.stdout.write(`${name}: rendered\n`);
      }
    }
    await writeFile(join(out, 'measures.json'), JSON.stringify(rows, null, 2));
    process.stdout.write(`\n${table(rows)}\n\nFiles in ${out}\n`);
  } finally {
    await Promise.all([closeAudioWorkers(), closeVocalWorkers()]);
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
