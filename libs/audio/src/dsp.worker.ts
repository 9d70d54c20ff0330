import { writeFile } from 'node:fs/promises';
import { pitchContour, segmentNotes, toDb, voicedBounds, voiceGate, midiToHz } from './analysis/pitch';
import { renderScore, warmUpSampler } from './render/sampler';
import { loadSoundBank } from './render/soundfont';
import { arrange } from './score/arrange';
import { RENDER_RATE } from './render/instrumental';
import { encodeWav16 } from './io/wav';
import type { Blueprint, DetectedNote } from '@mcm/pipeline';

/** The CPU-heavy half of the engine; runs in piscina worker threads so callers' event loops stay free. */

export interface VoiceTask {
  pcm: Float32Array;
  sampleRate: number;
}

export interface VoiceFindings {
  voiced: { start_s: number; end_s: number } | null;
  notes: DetectedNote[];
  median_pitch_hz: number | null;
  /** Mean RMS of the voiced frames, dBFS. */
  voiced_rms_db: number;
  /** Sample peak, dBFS. */
  peak_db: number;
}

export function analyzeVoice(task: VoiceTask): VoiceFindings {
  const contour = pitchContour(task.pcm, { sampleRate: task.sampleRate });
  const voiced = voicedBounds(contour);
  const notes = segmentNotes(contour);
  const pitched: number[] = [];
  for (const value of contour.midi) if (!Number.isNaN(value)) pitched.push(value);
  pitched.sort((a, b) => a - b);
  const gate = voiceGate(contour.rms);
  let energySum = 0;
  let energyFrames = 0;
  for (const value of contour.rms) {
    if (value >= gate) {
      energySum += value * value;
      energyFrames++;
    }
  }
  let peak = 0;
  for (const sample of task.pcm) peak = Math.max(peak, Math.abs(sample));
  return {
    voiced,
    notes,
    median_pitch_hz: pitched.length ? Math.round(midiToHz(pitched[pitched.length >> 1]) * 10) / 10 : null,
    voiced_rms_db: energyFrames ? toDb(Math.sqrt(energySum / energyFrames)) : -120,
    peak_db: toDb(peak),
  };
}

// The soundfont loads once per thread, as the thread starts, and the sampler warms up behind it, so the first moment renders about as fast as the tenth.
const soundBank = loadSoundBank();
// A font that fails to load fails each render that needs it, not the thread.
const warm = soundBank.then((bank) => warmUpSampler(bank, RENDER_RATE)).catch(() => undefined);

/** Resolves once this thread's soundfont is loaded and its sampler warm. */
export async function ready(): Promise<boolean> {
  await warm;
  return true;
}

export interface InstrumentalTask {
  blueprint: Blueprint;
  totalFrames: number;
  sampleRate: number;
  outWav: string;
}

/** The blueprint's Score played through the soundfont, written as a 16-bit WAV. */
export async function renderInstrumental(task: InstrumentalTask): Promise<{ frames: number }> {
  const channels = await renderScore(arrange(task.blueprint), await soundBank, task.totalFrames, task.sampleRate);
  await writeFile(task.outWav, encodeWav16(channels, task.sampleRate));
  return { frames: channels[0].length };
}

export interface PitchTrackTask {
  pcm: Float32Array;
  sampleRate: number;
  hopSeconds: number;
  /** Samples YIN is given per frame (it analyses half of them). */
  frameSize: number;
}

/** The take's pitch every `hopSeconds` (fractional MIDI, NaN where unvoiced), for the vocal engine's frame-by-frame tuning. */
export function pitchTrack(task: PitchTrackTask): Float32Array {
  return pitchContour(task.pcm, { sampleRate: task.sampleRate, hopSeconds: task.hopSeconds, frameSize: task.frameSize }).midi;
}
