import type { DetectedNote } from '@mcm/pipeline';

export interface VoiceContour {
  hopSeconds: number;
  /** Frame RMS of the input as given (not normalised). */
  rms: Float32Array;
  /** Fractional MIDI pitch per frame, NaN where unvoiced. */
  midi: Float32Array;
}

export interface ContourOptions {
  sampleRate: number;
  hopSeconds?: number;
  frameSize?: number;
  minHz?: number;
  maxHz?: number;
}

export const hzToMidi = (hz: number): number => 69 + 12 * Math.log2(hz / 440);
export const midiToHz = (midi: number): number => 440 * 2 ** ((midi - 69) / 12);
export const toDb = (amplitude: number): number => (amplitude > 0 ? 20 * Math.log10(amplitude) : -120);

/** Frame RMS and a YIN pitch track, both centred on each frame's time; quiet frames are skipped so phone noise does not read as notes. */
export function pitchContour(pcm: Float32Array, options: ContourOptions): VoiceContour {
  const { sampleRate } = options;
  const hop = Math.max(1, Math.round(sampleRate * (options.hopSeconds ?? 0.01)));
  // pitchfinder analyses half of the buffer it is given: a 128 ms buffer gives it a 64 ms window (lags down to 31 Hz).
  const frameSize = options.frameSize ?? 2 ** Math.round(Math.log2(sampleRate * 0.128));
  const analysed = frameSize / 2;
  const rmsHalf = Math.round(1.5 * hop);
  const minHz = options.minHz ?? 65;
  const maxHz = options.maxHz ?? 1100;
  const frames = Math.max(0, Math.floor((pcm.length - 1) / hop) + 1);
  const rms = new Float32Array(frames);
  const midi = new Float32Array(frames).fill(NaN);
  for (let f = 0; f < frames; f++) {
    rms[f] = windowRms(pcm, f * hop - rmsHalf, f * hop + rmsHalf);
  }
  const gate = voiceGate(rms);
  const detect = yinDetector({ sampleRate, threshold: YIN_THRESHOLD, frameSize, minHz });
  const window = new Float32Array(frameSize);
  for (let f = 0; f < frames; f++) {
    if (rms[f] < gate) continue;
    const start = f * hop - analysed / 2;
    window.fill(0);
    const from = Math.max(0, start);
    window.set(pcm.subarray(from, Math.min(pcm.length, start + frameSize)), from - start);
    // pitchfinder's YIN adds a constant to its running sum, so it only works at a healthy level: normalise each frame.
    const gain = 0.1 / Math.max(windowRms(window, 0, analysed), 1e-9);
    for (let i = 0; i < frameSize; i++) window[i] *= gain;
    const hz = detect(window);
    if (hz !== null && hz >= minHz && hz <= maxHz) midi[f] = hzToMidi(hz);
  }
  return { hopSeconds: hop / sampleRate, rms, midi };
}

const YIN_THRESHOLD = 0.15;

export interface YinOptions {
  sampleRate: number;
  /** The aperiodicity under which a lag counts as the period (YIN's absolute threshold). */
  threshold: number;
  /** Samples given per frame; as in pitchfinder, half the largest power of two under it is analysed. */
  frameSize: number;
  /** Pitches under this are of no use to the caller: lags past its period are not computed. */
  minHz: number;
}

/**
 * YIN (de Cheveigné and Kawahara, 2002) as pitchfinder's detector computes it, result for result where the
 * pitch is at least `minHz`: the same difference function rounded to 32 bits at each step, the same
 * cumulative-mean normalisation (with its running sum starting at 1), threshold, descent and parabolic
 * refinement. pitchfinder computes every lag up to the window's length whatever pitch is wanted, and
 * accumulates in memory; this stops three lags past the lowest wanted pitch's period and accumulates in a
 * register, which makes the analysis' pitch track four times faster. Returns Hz, or null where no period
 * clears the threshold (or it lies under `minHz`).
 */
export function yinDetector(options: YinOptions): (frame: Float32Array) => number | null {
  const { sampleRate, threshold } = options;
  let bufferSize = 1;
  while (bufferSize < options.frameSize) bufferSize *= 2;
  const window = bufferSize / 4;
  // Any period found within the last lags would be refined to under minHz, which the caller refuses either way.
  const lags = Math.min(window, Math.ceil(sampleRate / options.minHz) + 3);
  const yin = new Float32Array(lags);
  return (frame) => {
    differences(frame, window, yin);
    let runningSum = 0;
    for (let lag = 1; lag < lags; lag++) {
      runningSum += yin[lag];
      yin[lag] *= lag / runningSum;
    }
    let tau = 2;
    for (; tau < lags; tau++) {
      if (yin[tau] < threshold) {
        while (tau + 1 < lags && yin[tau + 1] < yin[tau]) tau++;
        break;
      }
    }
    // pitchfinder's probability floor (1 − aperiodicity ≥ 0.1) never binds under a threshold below 0.9.
    if (tau === lags || yin[tau] >= threshold) return null;
    let period: number;
    if (tau + 1 < lags) {
      const s0 = yin[tau - 1];
      const s1 = yin[tau];
      const s2 = yin[tau + 1];
      period = tau + (s2 - s0) / (2 * (2 * s1 - s2 - s0));
    } else if (lags < window) {
      // The descent reached the last lag computed: the period lies further, under minHz.
      return null;
    } else {
      period = yin[tau] <= yin[tau - 1] ? tau : tau - 1;
    }
    const hz = sampleRate / period;
    return hz >= options.minHz ? hz : null;
  };
}

/**
 * YIN's difference function of the frame over `window` samples, for every lag `yin` holds, rounded to 32 bits at each
 * step; the first two values are fixed at 1 (the normalisation replaces lag 1's sum). A function of its own, called
 * once per frame: optimised after the first frames with the feedback of all of it, where the loop optimised inside the
 * detector while it ran lost that code at the first statement after it, at every frame.
 */
function differences(frame: Float32Array, window: number, yin: Float32Array): void {
  yin[0] = 1;
  yin[1] = 1;
  for (let lag = 2; lag < yin.length; lag++) {
    let sum = 0;
    for (let i = 0; i < window; i++) {
      const delta = frame[i] - frame[i + lag];
      sum = Math.fround(sum + delta * delta);
    }
    yin[lag] = sum;
  }
}

function windowRms(samples: Float32Array, from: number, to: number): number {
  const start = Math.max(0, from);
  const end = Math.min(samples.length, to);
  let sum = 0;
  for (let i = start; i < end; i++) sum += samples[i] * samples[i];
  return end > start ? Math.sqrt(sum / (end - start)) : 0;
}

/**
 * The level above which a frame counts as voice: 8 dB over the room's noise floor (the quiet tenth of
 * the frames) and at most 30 dB under the loud frames, never under −70 dBFS nor within 6 dB of the loudest.
 */
export function voiceGate(rms: Float32Array): number {
  if (rms.length === 0) return Infinity;
  const sorted = Float32Array.from(rms).sort();
  const loud = sorted[Math.floor(0.95 * (sorted.length - 1))];
  const floor = sorted[Math.floor(0.1 * (sorted.length - 1))];
  const gate = Math.max(loud * 10 ** (-30 / 20), floor * 10 ** (8 / 20), 10 ** (-70 / 20));
  return Math.min(gate, Math.max(loud * 10 ** (-6 / 20), 10 ** (-70 / 20)));
}

/** First and last frame above the voice gate, in seconds. */
export function voicedBounds(contour: VoiceContour): { start_s: number; end_s: number } | null {
  const gate = voiceGate(contour.rms);
  let first = -1;
  let last = -1;
  for (let f = 0; f < contour.rms.length; f++) {
    if (contour.rms[f] >= gate) {
      if (first < 0) first = f;
      last = f;
    }
  }
  if (first < 0) return null;
  return { start_s: first * contour.hopSeconds, end_s: (last + 1) * contour.hopSeconds };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Fills runs of up to `maxFrames` unpitched frames between two close pitches: YIN drops frames mid-note. */
function bridgeDropouts(midi: Float32Array, maxFrames: number, maxJump: number): Float32Array {
  const out = Float32Array.from(midi);
  let f = 0;
  while (f < out.length) {
    if (!Number.isNaN(out[f])) {
      f++;
      continue;
    }
    let end = f;
    while (end < out.length && Number.isNaN(out[end])) end++;
    const before = out[f - 1];
    const after = out[end];
    if (f > 0 && end < out.length && end - f <= maxFrames && Math.abs(after - before) <= maxJump) {
      for (let k = f; k < end; k++) out[k] = before + ((after - before) * (k - f + 1)) / (end - f + 1);
    }
    f = end;
  }
  return out;
}

/** A 5-frame median over voiced frames removes single-frame octave slips without blurring note edges. */
function smooth(midi: Float32Array): Float32Array {
  const out = new Float32Array(midi.length).fill(NaN);
  for (let f = 0; f < midi.length; f++) {
    if (Number.isNaN(midi[f])) continue;
    const around: number[] = [];
    for (let k = Math.max(0, f - 2); k <= Math.min(midi.length - 1, f + 2); k++) if (!Number.isNaN(midi[k])) around.push(midi[k]);
    out[f] = median(around);
  }
  return out;
}

export interface SegmentOptions {
  minNoteSeconds?: number;
  /** Semitones a frame may stray from its note before a new note starts. */
  tolerance?: number;
}

/**
 * Groups voiced frames of stable pitch into notes: a note ends at an unvoiced frame, when the pitch
 * moves more than the tolerance for three frames in a row, or at a sharp rise in level (a re-sung note).
 */
export function segmentNotes(contour: VoiceContour, options: SegmentOptions = {}): DetectedNote[] {
  const minFrames = Math.max(1, Math.round((options.minNoteSeconds ?? 0.08) / contour.hopSeconds));
  const tolerance = options.tolerance ?? 0.75;
  const midi = smooth(bridgeDropouts(contour.midi, 4, 1.5));
  const notes: DetectedNote[] = [];
  let start = -1;
  let pitches: number[] = [];

  const close = (end: number) => {
    if (start >= 0 && end - start >= minFrames) {
      notes.push({
        midi: Math.round(median(pitches)),
        onset_s: round3(start * contour.hopSeconds),
        duration_s: round3((end - start) * contour.hopSeconds),
      });
    }
    start = -1;
    pitches = [];
  };

  for (let f = 0; f < midi.length; f++) {
    const pitch = midi[f];
    if (Number.isNaN(pitch)) {
      close(f);
      continue;
    }
    if (start < 0) {
      start = f;
      pitches = [pitch];
      continue;
    }
    const centre = median(pitches.slice(-12));
    const strays = [0, 1, 2].every((k) => f + k < midi.length && !Number.isNaN(midi[f + k]) && Math.abs(midi[f + k] - centre) > tolerance);
    const reattack = f >= 3 && contour.rms[f] > 2.5 * Math.min(contour.rms[f - 1], contour.rms[f - 2], contour.rms[f - 3]) && f - start >= minFrames;
    if (strays || reattack) {
      close(f);
      start = f;
      pitches = [pitch];
    } else {
      pitches.push(pitch);
    }
  }
  close(midi.length);
  return foldOctaveSlips(mergeRepeats(notes, contour.hopSeconds * 3));
}

/** Moves notes more than a fifth from the median by octaves towards it: YIN's typical error is a whole octave. */
function foldOctaveSlips(notes: DetectedNote[]): DetectedNote[] {
  if (notes.length < 3) return notes;
  const centre = median(notes.map((note) => note.midi));
  return notes.map((note) => {
    let midi = note.midi;
    while (midi - centre > 9) midi -= 12;
    while (centre - midi > 9) midi += 12;
    return { ...note, midi };
  });
}

/** Joins a note to the previous one when it repeats its pitch after a dropout of a few frames. */
function mergeRepeats(notes: DetectedNote[], maxGap: number): DetectedNote[] {
  const merged: DetectedNote[] = [];
  for (const note of notes) {
    const previous = merged.at(-1);
    const gap = previous ? note.onset_s - (previous.onset_s + previous.duration_s) : Infinity;
    // A zero gap means the level rose sharply: a deliberate re-sung note, kept apart.
    if (previous && previous.midi === note.midi && gap > 1e-6 && gap <= maxGap + 1e-6) {
      previous.duration_s = round3(note.onset_s + note.duration_s - previous.onset_s);
      continue;
    }
    merged.push({ ...note });
  }
  return merged;
}

const round3 = (value: number): number => Math.round(value * 1000) / 1000;
