import type { DetectedNote } from '@mcm/pipeline';

export const MIN_TEMPO = 70;
export const MAX_TEMPO = 160;

/**
 * Tempo from inter-onset intervals: the beat period whose eighth-note grid best divides the intervals
 * between nearby onsets, weighted towards ~110 BPM to settle half/double-tempo ties. Null below 3 notes.
 */
export function estimateTempo(notes: DetectedNote[]): number | null {
  if (notes.length < 3) return null;
  const onsets = notes.map((note) => note.onset_s);
  const intervals: number[] = [];
  for (let i = 0; i < onsets.length; i++) {
    for (let j = i + 1; j <= Math.min(onsets.length - 1, i + 3); j++) {
      const interval = onsets[j] - onsets[i];
      if (interval >= 0.12 && interval <= 3) intervals.push(interval);
    }
  }
  if (intervals.length < 2) return null;
  let best = MIN_TEMPO;
  let bestScore = -Infinity;
  for (let bpm = MIN_TEMPO; bpm <= MAX_TEMPO; bpm += 0.5) {
    const grid = 60 / bpm / 2;
    let fit = 0;
    for (const interval of intervals) {
      const steps = interval / grid;
      const error = Math.abs(steps - Math.max(1, Math.round(steps)));
      fit += Math.max(0, 1 - 2 * error);
    }
    const prior = Math.exp(-0.5 * (Math.log2(bpm / 110) / 0.6) ** 2);
    const score = (fit / intervals.length) * (0.6 + 0.4 * prior);
    if (score > bestScore) {
      bestScore = score;
      best = bpm;
    }
  }
  return Math.round(best);
}

export function clampTempo(bpm: number): number {
  return Math.min(MAX_TEMPO, Math.max(MIN_TEMPO, Math.round(bpm)));
}
