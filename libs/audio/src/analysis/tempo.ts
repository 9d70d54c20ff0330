import type { DetectedNote } from '@mcm/pipeline';
import { chromaFrames } from './harmony';
import { decimate, stft } from './spectrum';

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

export interface OnsetEnvelope {
  /** Onset strength per frame (half-wave rectified, local mean removed). */
  strength: Float32Array;
  hopSeconds: number;
}

/**
 * Spectral-flux onset strength: the rise of log-compressed STFT magnitudes summed over bins, with a
 * moving average of ~0.4 s taken off so only attacks stand out. Works at ~11 kHz with 5 ms hops.
 */
export function onsetEnvelope(samples: Float32Array, sampleRate: number): OnsetEnvelope {
  const factor = Math.max(1, Math.round(sampleRate / 11_025));
  const rate = sampleRate / factor;
  const reduced = decimate(samples, factor);
  const hop = Math.max(1, Math.round(rate * 0.005));
  const spectrogram = stft(reduced, rate, 512, hop);
  const { magnitudes, frames, bins } = spectrogram;
  const flux = new Float32Array(frames);
  // Log compression (γ = 100) lets a quiet hi-hat and a loud kick both register as onsets.
  const compressed = new Float32Array(magnitudes.length);
  for (let i = 0; i < magnitudes.length; i++) compressed[i] = Math.log1p(100 * magnitudes[i]);
  for (let f = 1; f < frames; f++) {
    let sum = 0;
    const row = f * bins;
    const previous = row - bins;
    for (let k = 1; k < bins; k++) {
      const rise = compressed[row + k] - compressed[previous + k];
      if (rise > 0) sum += rise;
    }
    flux[f] = sum;
  }
  const radius = Math.round(0.2 / spectrogram.hopSeconds);
  const strength = new Float32Array(frames);
  let windowSum = 0;
  let count = 0;
  for (let f = 0; f < Math.min(frames, radius); f++) {
    windowSum += flux[f];
    count++;
  }
  for (let f = 0; f < frames; f++) {
    const enter = f + radius;
    if (enter < frames) {
      windowSum += flux[enter];
      count++;
    }
    const leave = f - radius - 1;
    if (leave >= 0) {
      windowSum -= flux[leave];
      count--;
    }
    strength[f] = Math.max(0, flux[f] - windowSum / count);
  }
  return { strength, hopSeconds: spectrogram.hopSeconds };
}

export interface AudioTempo {
  bpm: number;
  /** Peak-to-mean ratio of the comb score over the searched range, 0–1; near 0 means no clear pulse. */
  confidence: number;
}

/**
 * Tempo of a recording. The onset envelope's autocorrelation is scored with a comb over the first four
 * beat multiples (a bar's worth of lags pins the period to a fraction of a BPM) under a mild log-normal
 * preference for ~115 BPM. The comb cannot tell a beat from its half or double, so the metrical level is
 * settled by harmonic rhythm: chords change on bar lines, so the right tempo is the fastest one whose bar
 * length (`beatsPerBar` beats) recurs in the chroma's novelty. Null when the clip has no pulse.
 */
export function estimateAudioTempo(samples: Float32Array, sampleRate: number, options: { min?: number; max?: number; beatsPerBar?: number } = {}): AudioTempo | null {
  const minBpm = options.min ?? MIN_TEMPO;
  const maxBpm = options.max ?? MAX_TEMPO;
  const { strength, hopSeconds } = onsetEnvelope(samples, sampleRate);
  const maxLag = Math.ceil((8 * 60) / minBpm / hopSeconds) + 2;
  if (strength.length < maxLag * 1.2) return null;
  const acf = autocorrelation(strength, maxLag);
  if (!(acf[0] > 0)) return null;
  const at = (lag: number) => {
    const k = Math.floor(lag);
    return k + 1 > maxLag ? acf[maxLag] : acf[k] + (acf[k + 1] - acf[k]) * (lag - k);
  };
  const combAt = (bpm: number) => {
    const period = 60 / bpm / hopSeconds;
    let comb = 0;
    for (let m = 1; m <= 4; m++) comb += at(m * period);
    return comb;
  };
  const scores: number[] = [];
  let best = { bpm: minBpm, score: -Infinity };
  for (let bpm = minBpm; bpm <= maxBpm + 1e-9; bpm += 0.05) {
    const prior = Math.exp(-0.5 * (Math.log2(bpm / 115) / 0.6) ** 2);
    const score = combAt(bpm) * (0.5 + 0.5 * prior);
    scores.push(score);
    if (score > best.score) best = { bpm, score };
  }
  // A pulse repeats: when even the best beat lags keep under a tenth of the envelope's energy, there is none.
  if (combAt(best.bpm) / 4 < 0.1 * acf[0]) return null;
  const mean = scores.reduce((sum, value) => sum + value, 0) / scores.length;
  const confidence = best.score > 0 ? Math.max(0, Math.min(1, 1 - mean / best.score)) : 0;
  const bpm = metricalLevel(samples, sampleRate, best.bpm, minBpm, maxBpm, options.beatsPerBar ?? 4, combAt);
  return { bpm: Math.round(bpm * 10) / 10, confidence: Math.round(confidence * 1000) / 1000 };
}

function autocorrelation(signal: Float32Array, maxLag: number): Float64Array {
  const acf = new Float64Array(maxLag + 1);
  const n = signal.length;
  for (let lag = 0; lag <= maxLag; lag++) {
    let sum = 0;
    for (let i = lag; i < n; i++) sum += signal[i] * signal[i - lag];
    // Unbiased: longer lags overlap fewer frames.
    acf[lag] = sum / (n - lag);
  }
  return acf;
}

/** Picks among the comb's tempo, its half and its double the fastest whose bar length matches the chord changes. */
function metricalLevel(samples: Float32Array, sampleRate: number, bpm: number, minBpm: number, maxBpm: number, beatsPerBar: number, combAt: (bpm: number) => number): number {
  const { chroma, hopSeconds } = chromaFrames(samples, sampleRate, 0.19, 0.05);
  // Harmonic change at each frame: the distance between the mean chroma of the 0.4 s before and after it,
  // long enough that drum hits average out and only chord changes stand out.
  const span = Math.max(1, Math.round(0.4 / hopSeconds));
  const prefix = [new Float64Array(12)];
  for (const frame of chroma) prefix.push(prefix[prefix.length - 1].map((sum, pc) => sum + frame[pc]));
  const novelty = new Float32Array(chroma.length);
  for (let f = span; f + span <= chroma.length; f++) {
    let change = 0;
    for (let pc = 0; pc < 12; pc++) change += Math.abs(prefix[f + span][pc] - 2 * prefix[f][pc] + prefix[f - span][pc]);
    novelty[f] = change / span;
  }
  // Without its mean the autocorrelation shows recurrence, not the steady level of change.
  const mean = novelty.reduce((sum, value) => sum + value, 0) / Math.max(1, novelty.length);
  for (let f = 0; f < novelty.length; f++) novelty[f] -= mean;
  // A reading just outside the range still competes: the comb's edge may hold a tempo's double.
  const candidates = [bpm / 2, bpm, bpm * 2].filter((value) => value >= minBpm * 0.97 && value <= maxBpm * 1.03);
  const maxLag = Math.ceil((beatsPerBar * 60) / Math.min(...candidates) / hopSeconds) + 2;
  if (novelty.length < maxLag * 2) return bpm;
  const acf = autocorrelation(novelty, maxLag);
  if (!(acf[0] > 0)) return bpm;
  const barScore = (candidate: number) => {
    const lag = (beatsPerBar * 60) / candidate / hopSeconds;
    // The peak within ±2 frames: the bar lag is known only to the chroma hop.
    let peak = 0;
    for (let k = Math.max(1, Math.round(lag) - 2); k <= Math.min(maxLag, Math.round(lag) + 2); k++) peak = Math.max(peak, acf[k]);
    return peak / acf[0];
  };
  const strongest = Math.max(...candidates.map(barScore));
  // A wrong, too-fast reading puts its bar line mid-bar where chords hold (score near 0), so half the best score is enough to win.
  const chosen = [...candidates].sort((a, b) => b - a).find((candidate) => barScore(candidate) >= 0.5 * strongest) ?? bpm;
  if (chosen === bpm) return bpm;
  // The doubled or halved reading is refined by its own comb around the exact multiple.
  let refined = chosen;
  let bestScore = -Infinity;
  for (let candidate = chosen * 0.99; candidate <= chosen * 1.01; candidate += 0.05) {
    const score = combAt(candidate);
    if (score > bestScore) {
      bestScore = score;
      refined = candidate;
    }
  }
  return refined;
}
