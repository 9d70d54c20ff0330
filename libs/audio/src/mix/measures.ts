import { readFile } from 'node:fs/promises';
import { parseTimeSignature, type Blueprint } from '@mcm/pipeline';
import { ffmpegInput, runFfmpeg } from '../io/ffmpeg';
import { decodeWav16 } from '../io/wav';
import { hookSpans } from '../score/form';
import { arrange } from '../score/arrange';
import { tickSeconds, type Score } from '../score/score';
import { powerSpectrum, spanLoudness, spectralBalance } from './balance';
import { measureLoudness } from './loudness';
import { MAX_TRUE_PEAK_DBTP, TARGET_LUFS, voiceMatchDb } from './mix';

/** The mix measures of a rendered preview, as the product's mix targets state them (README, "Audio"). */
export interface PreviewMeasures {
  integrated_lufs: number;
  true_peak_dbtp: number;
  /** Share of the power below 160 Hz. */
  low_share: number;
  /** Share of the power above 2 kHz. */
  high_share: number;
  /** Slope of power per Hz from 125 Hz to 8 kHz, dB per octave (pink noise −3). */
  slope_db_per_octave: number;
  chorus_over_verse_lu: number;
  /** Largest level drop in the 50 ms before a bar line the Score holds a note across, dB, on the preview. */
  bar_line_drop_db: number;
  /** The same on the instrumental stem alone, so a gap of the band is told from one of the voice. */
  instrumental_bar_line_drop_db: number;
  /** Correlation of the left and right channels. */
  stereo_correlation: number;
  /** Vocal stem over instrumental stem in each hook, LU, lowest and highest. */
  voice_over_band_lu: [number, number];
  /** Vocal stem's floor between phrases under its voice in the hooks, dB (10th against 90th percentile of 50 ms windows). */
  vocal_floor_db: number;
  /** Vocal stem's energy above 11 kHz, dB of its total. */
  vocal_air_db: number;
}

export interface MixTarget {
  label: string;
  value: (measures: PreviewMeasures) => number;
  holds: (value: number) => boolean;
}

/** The targets every preview must meet, in the order the listening table shows them. */
export const MIX_TARGETS: MixTarget[] = [
  { label: `loudness ${TARGET_LUFS} LUFS ±1`, value: (m) => m.integrated_lufs, holds: (v) => Math.abs(v - TARGET_LUFS) <= 1 },
  { label: `true peak ≤ ${MAX_TRUE_PEAK_DBTP} dBTP`, value: (m) => m.true_peak_dbtp, holds: (v) => v <= MAX_TRUE_PEAK_DBTP },
  { label: 'energy < 160 Hz ≤ 45 %', value: (m) => m.low_share, holds: (v) => v <= 0.45 },
  { label: 'energy > 2 kHz ≥ 3 %', value: (m) => m.high_share, holds: (v) => v >= 0.03 },
  { label: 'slope 125 Hz–8 kHz −5.5…−3 dB/oct', value: (m) => m.slope_db_per_octave, holds: (v) => v >= -5.5 && v <= -3 },
  { label: 'chorus over verse ≥ +3 LU', value: (m) => m.chorus_over_verse_lu, holds: (v) => v >= 3 },
  { label: 'bar-line drop ≤ 3 dB', value: (m) => m.bar_line_drop_db, holds: (v) => v <= 3 },
  // The band alone as well: a gap in it must not hide under the voice.
  { label: 'bar-line drop of the instrumental ≤ 3 dB', value: (m) => m.instrumental_bar_line_drop_db, holds: (v) => v <= 3 },
  { label: 'voice over band in the hooks 0…+6 LU', value: (m) => Math.min(m.voice_over_band_lu[0], 6 - m.voice_over_band_lu[1]), holds: (v) => v >= 0 },
  { label: 'L/R correlation > 0.2', value: (m) => m.stereo_correlation, holds: (v) => v > 0.2 },
];

/** The targets a preview misses, each as "label: value". */
export function missedTargets(measures: PreviewMeasures): string[] {
  return MIX_TARGETS.filter((target) => !target.holds(target.value(measures))).map((target) => `${target.label}: ${target.value(measures).toFixed(3)}`);
}

const RATE = 44_100;
// A bar line's dip: the last 50 ms before it against the 200 ms before those.
const DIP_SECONDS = 0.05;
const REFERENCE_SECONDS = 0.2;

const levelDb = (samples: Float32Array, from: number, to: number) => {
  let sum = 0;
  for (let i = Math.max(0, from); i < Math.min(samples.length, to); i++) sum += samples[i] * samples[i];
  return 10 * Math.log10(sum / Math.max(1, to - from) + 1e-12);
};

/**
 * The dip a listener hears as a gap at each bar line some pitched note of the Score is held across
 * (where every part rests, a dip is meant): the level of the 50 ms before the line against the 200 ms
 * before that, in dB, positive when the level falls.
 */
export function barLineDrops(mono: Float32Array, score: Score, sampleRate = RATE): { bar: number; drop_db: number }[] {
  const windowTicks = Math.floor(DIP_SECONDS / tickSeconds(score, 1));
  const drops: { bar: number; drop_db: number }[] = [];
  for (let bar = 1; bar < score.bars.length; bar++) {
    const tick = bar * score.beats_per_bar * score.ppq;
    const held = score.tracks.some((track) => track.role !== 'drums' && track.notes.some((note) => note.tick <= tick - windowTicks && note.tick + note.ticks >= tick));
    if (!held) continue;
    const line = Math.round(tickSeconds(score, tick) * sampleRate);
    const dip = Math.round(DIP_SECONDS * sampleRate);
    const reference = Math.round((DIP_SECONDS + REFERENCE_SECONDS) * sampleRate);
    drops.push({ bar, drop_db: levelDb(mono, line - reference, line - dip) - levelDb(mono, line - dip, line) });
  }
  return drops;
}

export function stereoCorrelation(left: Float32Array, right: Float32Array): number {
  let lr = 0;
  let ll = 0;
  let rr = 0;
  for (let i = 0; i < left.length; i++) {
    lr += left[i] * right[i];
    ll += left[i] * left[i];
    rr += right[i] * right[i];
  }
  return lr / Math.sqrt(ll * rr || 1);
}

/** The first section whose name matches, in seconds. */
export function sectionSpan(blueprint: Blueprint, name: RegExp): { from_s: number; to_s: number } | null {
  const { beatsPerBar } = parseTimeSignature(blueprint.time_signature);
  const secondsPerBar = (beatsPerBar * 60) / blueprint.tempo_bpm;
  let bar = 0;
  for (const section of blueprint.sections) {
    if (name.test(section.name)) return { from_s: bar * secondsPerBar, to_s: (bar + section.bars) * secondsPerBar };
    bar += section.bars;
  }
  return null;
}

const mono = (left: Float32Array, right: Float32Array) => left.map((value, i) => (value + right[i]) / 2);

/** The preview MP3 as a player decodes it, 44.1 kHz stereo. */
export async function decodePreview(file: string): Promise<[Float32Array, Float32Array]> {
  const { stdout } = await runFfmpeg([...ffmpegInput(file, 'mp3'), '-map', '0:a:0', '-ac', '2', '-ar', String(RATE), '-f', 'f32le', 'pipe:1'], { stdout: true });
  const interleaved = new Float32Array(stdout.buffer.slice(stdout.byteOffset, stdout.byteOffset + (stdout.length - (stdout.length % 8))));
  const left = new Float32Array(interleaved.length / 2);
  const right = new Float32Array(interleaved.length / 2);
  for (let i = 0; i < left.length; i++) {
    left[i] = interleaved[2 * i];
    right[i] = interleaved[2 * i + 1];
  }
  return [left, right];
}

/** The vocal stem's measures: voice over band per hook (R128 on the stems), floor between phrases, air above 11 kHz. */
async function vocalMeasures(vocals: string, instrumental: string, blueprint: Blueprint): Promise<Pick<PreviewMeasures, 'voice_over_band_lu' | 'vocal_floor_db' | 'vocal_air_db'>> {
  const secondsPerBeat = 60 / blueprint.tempo_bpm;
  const hooks = hookSpans(blueprint).map((hook) => ({ from_s: hook.startBeat * secondsPerBeat, to_s: (hook.startBeat + hook.beats) * secondsPerBeat }));
  const [voiceLufs, bandLufs, stem, mixGainDb] = await Promise.all([
    spanLoudness(vocals, 'wav', hooks),
    spanLoudness(instrumental, 'wav', hooks),
    readFile(vocals),
    voiceMatchDb(blueprint, instrumental, vocals),
  ]);
  // As mixed: the stems' difference plus the gains the mix gives the voice.
  const over = voiceLufs.map((lufs, i) => lufs - bandLufs[i] + mixGainDb + (blueprint.mix?.vocal_gain_db ?? 0));
  const { channels } = decodeWav16(stem);
  const voice = channels.length > 1 ? mono(channels[0], channels[1]) : channels[0];
  const window = Math.round(0.05 * RATE);
  const levels: number[] = [];
  for (const hook of hooks) {
    for (let start = Math.round(hook.from_s * RATE); start + window <= Math.round(hook.to_s * RATE); start += window) levels.push(levelDb(voice, start, start + window));
  }
  // Windows past the end of the take are digital silence, not a floor between phrases.
  const sounding = levels.filter((level) => level > -119).sort((a, b) => a - b);
  const power = powerSpectrum(voice);
  let total = 0;
  let air = 0;
  power.forEach((value, bin) => {
    total += value;
    if ((bin * RATE) / 4096 >= 11_000) air += value;
  });
  return {
    voice_over_band_lu: over.length ? [Math.min(...over), Math.max(...over)] : [NaN, NaN],
    vocal_floor_db: sounding.length ? sounding[Math.floor(sounding.length * 0.9)] - sounding[Math.floor(sounding.length * 0.1)] : NaN,
    vocal_air_db: 10 * Math.log10(air / total),
  };
}

/**
 * Every mix measure of a preview and its stems: loudness and true peak, spectral balance (fft.js),
 * chorus over verse (EBU R128), the dips before held bar lines on the preview and on the instrumental,
 * the stereo correlation, and the vocal stem's place over the band.
 */
export async function measurePreview(files: { preview: string; instrumental: string; vocals: string }, blueprint: Blueprint): Promise<PreviewMeasures> {
  const verse = sectionSpan(blueprint, /^verse/i);
  const chorus = sectionSpan(blueprint, /chorus/i);
  const [loudness, [left, right], instrumental, [verseLufs, chorusLufs], vocal] = await Promise.all([
    measureLoudness(files.preview, 'mp3'),
    decodePreview(files.preview),
    readFile(files.instrumental).then((wav) => decodeWav16(wav).channels),
    verse && chorus ? spanLoudness(files.preview, 'mp3', [verse, chorus]) : Promise.resolve([NaN, NaN]),
    vocalMeasures(files.vocals, files.instrumental, blueprint),
  ]);
  const score = arrange(blueprint);
  const worstDrop = (signal: Float32Array) => Math.max(0, ...barLineDrops(signal, score).map(({ drop_db }) => drop_db));
  const previewMono = mono(left, right);
  return {
    integrated_lufs: loudness.integrated_lufs,
    true_peak_dbtp: loudness.true_peak_dbtp,
    ...spectralBalance(previewMono, RATE),
    chorus_over_verse_lu: chorusLufs - verseLufs,
    bar_line_drop_db: worstDrop(previewMono),
    instrumental_bar_line_drop_db: worstDrop(mono(instrumental[0], instrumental[1])),
    stereo_correlation: stereoCorrelation(left, right),
    ...vocal,
  };
}
