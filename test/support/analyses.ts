import type { Analysis } from '@mcm/pipeline';

/** A hummed take's analysis at 120 BPM, as the analyze stage reports it; a test names its notes and key and what else it needs. */
export function hummedAnalysis(fields: Pick<Analysis, 'notes' | 'key'> & Partial<Analysis>): Analysis {
  return {
    duration_s: 5,
    sample_rate: 44100,
    channels: 1,
    loudness_lufs: -20,
    peak_dbfs: -6,
    voiced_start_s: 0.5,
    voiced_end_s: 4,
    median_pitch_hz: 220,
    tempo_bpm: 120,
    tempo_source: 'onsets',
    key_confidence: 0.7,
    energy: 0.6,
    ...fields,
  };
}
