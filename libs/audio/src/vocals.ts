import { writeFile } from 'node:fs/promises';
import { parseTimeSignature, type Analysis, type Blueprint } from '@mcm/pipeline';
import { AudioError } from './audio-error';
import { runFfmpeg } from './ffmpeg';
import { blueprintFrames, RENDER_RATE } from './instrumental';
import { encodeWav16 } from './wav';

const VOCAL_TARGET_LUFS = -18;
const FADE_IN_SECONDS = 0.01;
const FADE_OUT_SECONDS = 0.08;

/** Beat where the voice enters: the first section with energy ≥ 0.6, else the second section, else the top. */
export function vocalEntryBeat(blueprint: Blueprint): number {
  const { beatsPerBar } = parseTimeSignature(blueprint.time_signature);
  let index = blueprint.sections.findIndex((section) => (section.energy ?? 0.5) >= 0.6);
  if (index < 0) index = blueprint.sections.length > 1 ? 1 : 0;
  const bars = blueprint.sections.slice(0, index).reduce((sum, section) => sum + section.bars, 0);
  return bars * beatsPerBar;
}

/**
 * The user's own take, cleaned (80 Hz high-pass, light denoise, silence trimmed at both ends), brought to
 * about −18 LUFS and placed on the beat grid at the vocal entry, padded to exactly the blueprint's length.
 */
export async function renderVocals(input: string, blueprint: Blueprint, analysis: Analysis, outWav: string): Promise<{ duration_s: number }> {
  // Gain from the analysis' measurement so a −45 LUFS phone take reaches the target before the silence gate sees it.
  const gainDb = Math.max(-20, Math.min(40, VOCAL_TARGET_LUFS - (Number.isFinite(analysis.loudness_lufs) ? analysis.loudness_lufs : VOCAL_TARGET_LUFS)));
  const start = Math.max(0, analysis.voiced_start_s - 0.05);
  const end = analysis.voiced_end_s > start ? analysis.voiced_end_s + 0.1 : analysis.duration_s;
  const filters = [
    `atrim=start=${start.toFixed(3)}:end=${end.toFixed(3)}`,
    'asetpts=PTS-STARTPTS',
    `volume=${gainDb.toFixed(2)}dB`,
    'highpass=f=80',
    'afftdn=nr=10:nf=-50',
    'silenceremove=start_periods=1:start_threshold=-50dB:start_silence=0.02',
    'areverse',
    'silenceremove=start_periods=1:start_threshold=-50dB:start_silence=0.05',
    'areverse',
    'alimiter=limit=0.89:level=false',
    `aresample=${RENDER_RATE}`,
  ];
  const { stdout } = await runFfmpeg(['-i', input, '-map', '0:a:0', '-af', filters.join(','), '-ac', '2', '-f', 'f32le', 'pipe:1'], { stdout: true });
  const clipFrames = Math.floor(stdout.length / 8);
  if (clipFrames === 0) throw new AudioError('AUDIO_SILENT', 'no voice left after trimming silence', false);
  const clip = new Float32Array(stdout.buffer.slice(stdout.byteOffset, stdout.byteOffset + clipFrames * 8));

  const totalFrames = blueprintFrames(blueprint);
  const entryFrame = Math.round(((vocalEntryBeat(blueprint) * 60) / blueprint.tempo_bpm) * RENDER_RATE);
  const length = Math.max(0, Math.min(clipFrames, totalFrames - entryFrame));
  const left = new Float32Array(totalFrames);
  const right = new Float32Array(totalFrames);
  const fadeIn = Math.min(length, Math.round(FADE_IN_SECONDS * RENDER_RATE));
  const fadeOut = Math.min(length, Math.round(FADE_OUT_SECONDS * RENDER_RATE));
  for (let i = 0; i < length; i++) {
    const envelope = Math.min(1, i < fadeIn ? i / fadeIn : 1, i >= length - fadeOut ? (length - i) / fadeOut : 1);
    left[entryFrame + i] = clip[i * 2] * envelope;
    right[entryFrame + i] = clip[i * 2 + 1] * envelope;
  }
  await writeFile(outWav, encodeWav16([left, right], RENDER_RATE));
  return { duration_s: totalFrames / RENDER_RATE };
}
