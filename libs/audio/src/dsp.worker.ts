import { writeFile } from 'node:fs/promises';
import { pitchContour, segmentNotes, toDb, voicedBounds, voiceGate, midiToHz } from './pitch';
import { synthesizeInstrumental, type InstrumentalScore } from './synth';
import { encodeWav16 } from './wav';
import type { DetectedNote } from '@mcm/pipeline';

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

export interface InstrumentalTask extends InstrumentalScore {
  outWav: string;
}

export async function renderInstrumental(task: InstrumentalTask): Promise<{ frames: number }> {
  const channels = synthesizeInstrumental(task);
  await writeFile(task.outWav, encodeWav16(channels, task.sampleRate));
  return { frames: channels[0].length };
}
