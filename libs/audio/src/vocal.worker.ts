import { pitchContour } from './pitch';

/** Pitch measurement for the vocal engine; runs in a piscina worker thread so callers' event loops stay free. */

export interface NotePitchTask {
  pcm: Float32Array;
  sampleRate: number;
  /** Note spans in seconds of `pcm`. */
  notes: { start_s: number; end_s: number }[];
}

/** The median fractional MIDI pitch of the middle of each note (its attack and release glide), NaN where unpitched. */
export function notePitches(task: NotePitchTask): number[] {
  return task.notes.map(({ start_s, end_s }) => {
    const margin = (end_s - start_s) * 0.2;
    const from = Math.max(0, Math.floor((start_s + margin) * task.sampleRate));
    const to = Math.min(task.pcm.length, Math.ceil((end_s - margin) * task.sampleRate));
    if (to - from < task.sampleRate * 0.03) return NaN;
    const contour = pitchContour(task.pcm.subarray(from, to), { sampleRate: task.sampleRate, hopSeconds: 0.02 });
    const pitched = Array.from(contour.midi).filter((value) => !Number.isNaN(value));
    if (pitched.length === 0) return NaN;
    pitched.sort((a, b) => a - b);
    return pitched[pitched.length >> 1];
  });
}
