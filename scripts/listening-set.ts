import { mkdir, writeFile } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { parseTimeSignature, type Blueprint } from '@mcm/pipeline';
import { tickSeconds } from '@mcm/audio/score/score';
import {
  analyzeAudio,
  arrange,
  closeAudioWorkers,
  composeBlueprint,
  hookSections,
  powerSpectrum,
  ffmpegInput,
  measureLoudness,
  mixAndMaster,
  renderInstrumental,
  renderVocals,
  runFfmpeg,
  spanLoudness,
  spectralBalance,
  STYLE_NAMES,
  uploadDemuxer,
} from '@mcm/audio';
import { ROOT } from './stack';

/**
 * `npm run listen [out-dir]`: renders each style from both fixtures through the real engine
 * (analysis → compose → vocals + instrumental → mix), and writes per preview the MP3, its stems,
 * a spectrogram PNG and the mix measures (a table on stdout, `measures.json` beside the files):
 * the spectral balance (fft.js), chorus over verse (EBU R128), the dip before bar lines the Score
 * holds across, and the stereo correlation.
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
  /** Largest level drop in the 50 ms before a bar line where the Score holds a note across it, dB (target ≤ 3). */
  bar_line_drop_db: number;
  /** Correlation of the left and right channels (target > 0.2, with instruments panned). */
  stereo_correlation: number;
  /** Vocal stem over instrumental stem in each hook, LU, lowest and highest (target 0…+6). */
  voice_over_band_lu: [number, number];
  /** Vocal stem's floor between phrases under its voice in the hooks, dB (10th against 90th percentile of 50 ms windows; target ≥ 30). */
  vocal_floor_db: number;
  /** Vocal stem's energy above 11 kHz, dB of its total. */
  vocal_air_db: number;
}

/** The vocal stem's measures: voice over band per hook (R128 on the stems), floor between phrases, air above 11 kHz. */
async function vocalMeasures(stems: string, blueprint: Blueprint): Promise<Pick<Measured, 'voice_over_band_lu' | 'vocal_floor_db' | 'vocal_air_db'>> {
  const secondsPerBeat = 60 / blueprint.tempo_bpm;
  const hooks = hookSections(blueprint).map((hook) => ({ from_s: hook.startBeat * secondsPerBeat, to_s: (hook.startBeat + hook.beats) * secondsPerBeat }));
  const vocals = join(stems, 'vocals.wav');
  const [voiceLufs, bandLufs, voice] = await Promise.all([spanLoudness(vocals, 'wav', hooks), spanLoudness(join(stems, 'instrumental.wav'), 'wav', hooks), decodeMono(vocals)]);
  const over = voiceLufs.map((lufs, i) => lufs - bandLufs[i]);
  const rate = 44_100;
  const window = Math.round(0.05 * rate);
  const levels: number[] = [];
  for (const hook of hooks) {
    for (let start = Math.round(hook.from_s * rate); start + window <= Math.round(hook.to_s * rate); start += window) levels.push(levelDb(voice, start, start + window));
  }
  // Windows past the end of the take are digital silence, not a floor between phrases.
  const sounding = levels.filter((level) => level > -119).sort((a, b) => a - b);
  const power = powerSpectrum(voice);
  let total = 0;
  let air = 0;
  power.forEach((value, bin) => {
    total += value;
    if ((bin * rate) / 4096 >= 11_000) air += value;
  });
  return {
    voice_over_band_lu: [Math.min(...over), Math.max(...over)],
    vocal_floor_db: sounding.length ? sounding[Math.floor(sounding.length * 0.9)] - sounding[Math.floor(sounding.length * 0.1)] : NaN,
    vocal_air_db: 10 * Math.log10(air / total),
  };
}

async function decodeMono(file: string): Promise<Float32Array> {
  const { stdout } = await runFfmpeg([...ffmpegInput(file, 'wav'), '-map', '0:a:0', '-ac', '1', '-f', 'f32le', 'pipe:1'], { stdout: true });
  return new Float32Array(stdout.buffer.slice(stdout.byteOffset, stdout.byteOffset + (stdout.length - (stdout.length % 4))));
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

async function decodeStereo(file: string): Promise<[Float32Array, Float32Array]> {
  const { stdout } = await runFfmpeg([...ffmpegInput(file, 'mp3'), '-map', '0:a:0', '-ac', '2', '-ar', '44100', '-f', 'f32le', 'pipe:1'], { stdout: true });
  const interleaved = new Float32Array(stdout.buffer.slice(stdout.byteOffset, stdout.byteOffset + (stdout.length - (stdout.length % 8))));
  const left = new Float32Array(interleaved.length / 2);
  const right = new Float32Array(interleaved.length / 2);
  for (let i = 0; i < left.length; i++) {
    left[i] = interleaved[2 * i];
    right[i] = interleaved[2 * i + 1];
  }
  return [left, right];
}

const levelDb = (samples: Float32Array, from: number, to: number) => {
  let sum = 0;
  for (let i = Math.max(0, from); i < Math.min(samples.length, to); i++) sum += samples[i] * samples[i];
  return 10 * Math.log10(sum / Math.max(1, to - from) + 1e-12);
};

/**
 * The dip a listener hears as a gap: the level of the 50 ms before each bar line against the 200 ms
 * before that, at bar lines some note of the Score is held across (where it rests, a dip is meant).
 */
function barLineDrop(mono: Float32Array, blueprint: Blueprint): number {
  const score = arrange(blueprint);
  const rate = 44_100;
  let worst = 0;
  for (let bar = 1; bar < score.bars.length; bar++) {
    const tick = bar * score.beats_per_bar * score.ppq;
    const lineSeconds = tickSeconds(score, tick);
    const windowTicks = (0.05 / tickSeconds(score, 1)) | 0;
    const held = score.tracks.some((track) => track.role !== 'drums' && track.notes.some((note) => note.tick <= tick - windowTicks && note.tick + note.ticks >= tick));
    if (!held) continue;
    const line = Math.round(lineSeconds * rate);
    const drop = levelDb(mono, line - Math.round(0.25 * rate), line - Math.round(0.05 * rate)) - levelDb(mono, line - Math.round(0.05 * rate), line);
    worst = Math.max(worst, drop);
  }
  return worst;
}

function correlation(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb || 1);
}

async function measure(preview: string, stems: string, blueprint: Blueprint): Promise<Measured> {
  const [loudness, [left, right]] = await Promise.all([measureLoudness(preview, 'mp3'), decodeStereo(preview)]);
  const mono = left.map((value, i) => (value + right[i]) / 2);
  const balance = spectralBalance(mono, 44_100);
  const verse = sectionSpan(blueprint, /^verse/i);
  const chorus = sectionSpan(blueprint, /chorus/i);
  const [verseLufs, chorusLufs] = verse && chorus ? await spanLoudness(preview, 'mp3', [verse, chorus]) : [NaN, NaN];
  return {
    preview: basename(preview),
    integrated_lufs: loudness.integrated_lufs,
    true_peak_dbtp: loudness.true_peak_dbtp,
    ...balance,
    chorus_over_verse_lu: chorusLufs - verseLufs,
    bar_line_drop_db: barLineDrop(mono, blueprint),
    stereo_correlation: correlation(left, right),
    ...(await vocalMeasures(stems, blueprint)),
  };
}

function table(rows: Measured[]): string {
  const percent = (share: number) => `${(share * 100).toFixed(1)} %`;
  const signed = (value: number) => `${value >= 0 ? '+' : ''}${value.toFixed(1)}`;
  return [
    '| preview | LUFS | dBTP | < 160 Hz (≤ 45 %) | > 2 kHz (≥ 3 %) | slope dB/oct (−3…−5.5) | chorus − verse LU (≥ +3) | bar-line drop dB (≤ 3) | L/R correlation (> 0.2) | voice over band LU (0…+6) | vocal floor dB (≥ 30) | vocal > 11 kHz dB |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (row) =>
        `| ${row.preview} | ${row.integrated_lufs.toFixed(1)} | ${row.true_peak_dbtp.toFixed(1)} | ${percent(row.low_share)} | ${percent(row.high_share)} | ${row.slope_db_per_octave.toFixed(2)} | ${signed(row.chorus_over_verse_lu)} | ${row.bar_line_drop_db.toFixed(1)} | ${row.stereo_correlation.toFixed(2)} | ${signed(row.voice_over_band_lu[0])} … ${signed(row.voice_over_band_lu[1])} | ${row.vocal_floor_db.toFixed(1)} | ${row.vocal_air_db.toFixed(1)} |`,
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
        const row = await measure(preview, stems, blueprint);
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
