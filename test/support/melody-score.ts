/** Note-level transcription scoring in the manner of mir_eval.transcription (onset and pitch, offsets ignored). */

export interface ScoredNote {
  /** MIDI pitch, fractional allowed. */
  midi: number;
  onset_s: number;
}

export interface NoteScore {
  precision: number;
  recall: number;
  f_measure: number;
  matched: number;
}

/**
 * Precision, recall and F-measure of estimated notes against reference notes: a pair matches when the
 * onsets are within `onsetTolerance` seconds and the pitches within `pitchToleranceCents`; each note
 * matches at most once. Matching is a maximum bipartite matching (augmenting paths), as mir_eval does.
 */
export function noteFMeasure(reference: ScoredNote[], estimate: ScoredNote[], options: { onsetTolerance?: number; pitchToleranceCents?: number } = {}): NoteScore {
  const onsetTolerance = options.onsetTolerance ?? 0.05;
  const pitchTolerance = (options.pitchToleranceCents ?? 50) / 100;
  const candidates = reference.map((ref) =>
    estimate.flatMap((est, j) => (Math.abs(est.onset_s - ref.onset_s) <= onsetTolerance + 1e-9 && Math.abs(est.midi - ref.midi) <= pitchTolerance + 1e-9 ? [j] : [])),
  );
  const owner = new Array<number>(estimate.length).fill(-1);
  const augment = (i: number, seen: boolean[]): boolean => {
    for (const j of candidates[i]) {
      if (seen[j]) continue;
      seen[j] = true;
      if (owner[j] < 0 || augment(owner[j], seen)) {
        owner[j] = i;
        return true;
      }
    }
    return false;
  };
  let matched = 0;
  for (let i = 0; i < reference.length; i++) if (augment(i, new Array<boolean>(estimate.length).fill(false))) matched++;
  const precision = estimate.length ? matched / estimate.length : 0;
  const recall = reference.length ? matched / reference.length : 0;
  const f = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f_measure: f, matched };
}
