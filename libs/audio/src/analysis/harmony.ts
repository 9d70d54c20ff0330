/** Pitch classes, keys, scales and chord symbols, with spellings the blueprint schema accepts. */
import { decimate, stft } from './spectrum';
import type { StyleName } from '../score/styles';

const SHARP_NAMES = ['C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B'];
const FLAT_NAMES = ['C', 'Db', 'D', 'Eb', 'E', 'F', 'Gb', 'G', 'Ab', 'A', 'Bb', 'B'];
// Conventional spelling of each tonic: flats for F, Bb, Eb, Ab, Db majors; sharps for the sharp minors.
const MAJOR_TONIC_NAMES = ['C', 'Db', 'D', 'Eb', 'E', 'F', 'F#', 'G', 'Ab', 'A', 'Bb', 'B'];
const MINOR_TONIC_NAMES = ['C', 'C#', 'D', 'Eb', 'E', 'F', 'F#', 'G', 'G#', 'A', 'Bb', 'B'];
const FLAT_MAJOR_TONICS = new Set([1, 3, 5, 8, 10]);
const FLAT_MINOR_TONICS = new Set([0, 2, 3, 5, 7, 10]);

// Krumhansl–Kessler probe-tone profiles.
const MAJOR_PROFILE = [6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88];
const MINOR_PROFILE = [6.33, 2.68, 3.52, 5.38, 2.6, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17];

// Temperley's (1999) corpus-derived profiles: flatter than Krumhansl's, they suit symbolic note counts.
const TEMPERLEY_MAJOR = [5, 2, 3.5, 2, 4.5, 4, 2, 4.5, 2, 3.5, 1.5, 4];
const TEMPERLEY_MINOR = [5, 2, 3.5, 4.5, 2, 4, 2, 4.5, 3.5, 2, 1.5, 4];

export const MAJOR_SCALE = [0, 2, 4, 5, 7, 9, 11];
export const MINOR_SCALE = [0, 2, 3, 5, 7, 8, 10];

export interface MusicalKey {
  tonic: number;
  minor: boolean;
}

export function pitchClassOf(name: string): number {
  const index = SHARP_NAMES.indexOf(name);
  return index >= 0 ? index : FLAT_NAMES.indexOf(name);
}

export function parseKey(key: string): MusicalKey {
  const match = /^([A-G](?:#|b)?)(m?)$/.exec(key);
  const tonic = match ? pitchClassOf(match[1]) : 0;
  return { tonic: tonic < 0 ? 0 : tonic, minor: match?.[2] === 'm' };
}

export function keyName({ tonic, minor }: MusicalKey): string {
  const pc = ((tonic % 12) + 12) % 12;
  return minor ? `${MINOR_TONIC_NAMES[pc]}m` : MAJOR_TONIC_NAMES[pc];
}

/** Spells a pitch class the way the key does (flats in flat keys). */
export function noteName(pc: number, key: MusicalKey): string {
  const flat = key.minor ? FLAT_MINOR_TONICS.has(key.tonic) : FLAT_MAJOR_TONICS.has(key.tonic);
  return (flat ? FLAT_NAMES : SHARP_NAMES)[((pc % 12) + 12) % 12];
}

export function scaleOf(key: MusicalKey): number[] {
  return (key.minor ? MINOR_SCALE : MAJOR_SCALE).map((step) => (key.tonic + step) % 12);
}

/** The nearest MIDI note whose pitch class is in the scale; ties go down. */
export function snapToScale(midi: number, key: MusicalKey): number {
  const scale = new Set(scaleOf(key));
  for (let distance = 0; distance < 12; distance++) {
    if (scale.has((((midi - distance) % 12) + 12) % 12)) return midi - distance;
    if (scale.has((((midi + distance) % 12) + 12) % 12)) return midi + distance;
  }
  return midi;
}

function pearson(a: number[], b: number[]): number {
  const n = a.length;
  const meanA = a.reduce((s, v) => s + v, 0) / n;
  const meanB = b.reduce((s, v) => s + v, 0) / n;
  let num = 0;
  let varA = 0;
  let varB = 0;
  for (let i = 0; i < n; i++) {
    num += (a[i] - meanA) * (b[i] - meanB);
    varA += (a[i] - meanA) ** 2;
    varB += (b[i] - meanB) ** 2;
  }
  return varA === 0 || varB === 0 ? 0 : num / Math.sqrt(varA * varB);
}

export type KeyProfiles = 'krumhansl' | 'temperley';

/** Pearson correlation of a pitch-class histogram with one key's profile. */
function keyCorrelation(histogram: number[], tonic: number, minor: boolean, profiles: KeyProfiles): number {
  const profile = profiles === 'temperley' ? (minor ? TEMPERLEY_MINOR : TEMPERLEY_MAJOR) : minor ? MINOR_PROFILE : MAJOR_PROFILE;
  return pearson(
    histogram,
    histogram.map((_, pc) => profile[(pc - tonic + 12) % 12]),
  );
}

/** Krumhansl–Schmuckler: the key whose rotated profile best correlates with the pitch-class histogram. */
export function detectKey(histogram: number[], profiles: KeyProfiles = 'krumhansl'): { key: MusicalKey; confidence: number } {
  let best = { key: { tonic: 0, minor: false }, confidence: 0 };
  let bestR = -Infinity;
  for (let tonic = 0; tonic < 12; tonic++) {
    for (const minor of [false, true]) {
      const r = keyCorrelation(histogram, tonic, minor, profiles);
      if (r > bestR) {
        bestR = r;
        best = { key: { tonic, minor }, confidence: Math.max(0, r) };
      }
    }
  }
  return best;
}

export interface Chord {
  root: number;
  intervals: number[];
}

const CHORD_QUALITIES: Record<string, number[]> = {
  '': [0, 4, 7],
  m: [0, 3, 7],
  dim: [0, 3, 6],
  aug: [0, 4, 8],
  sus2: [0, 2, 7],
  sus4: [0, 5, 7],
  maj7: [0, 4, 7, 11],
  m7: [0, 3, 7, 10],
  '7': [0, 4, 7, 10],
};

export function parseChord(symbol: string): Chord | null {
  const match = /^([A-G](?:#|b)?)(m|dim|aug|sus2|sus4|maj7|m7|7)?$/.exec(symbol);
  if (!match) return null;
  const root = pitchClassOf(match[1]);
  return root < 0 ? null : { root, intervals: CHORD_QUALITIES[match[2] ?? ''] };
}

// Progressions as (semitones above the tonic, chord quality), one chord a bar. The minor ones reach the
// tonic often and lean on the raised leading tone (a major V) so the key reads as minor, not its relative major.
const PROGRESSIONS: Record<StyleName, { major: [number, string][]; minor: [number, string][] }> = {
  cinematic: {
    major: [
      [0, ''],
      [9, 'm'],
      [5, ''],
      [7, ''],
      [0, ''],
      [4, 'm'],
      [5, ''],
      [7, 'sus4'],
    ],
    minor: [
      [0, 'm'],
      [8, ''],
      [5, 'm'],
      [7, ''],
      [0, 'm'],
      [8, ''],
      [3, ''],
      [7, ''],
    ],
  },
  anthem: {
    major: [
      [0, ''],
      [7, ''],
      [9, 'm'],
      [5, ''],
    ],
    minor: [
      [0, 'm'],
      [8, ''],
      [3, ''],
      [10, ''],
      [0, 'm'],
      [5, 'm'],
      [7, ''],
      [0, 'm'],
    ],
  },
  lofi: {
    major: [
      [0, 'maj7'],
      [9, 'm7'],
      [2, 'm7'],
      [7, '7'],
    ],
    minor: [
      [0, 'm7'],
      [5, 'm7'],
      [8, 'maj7'],
      [7, '7'],
    ],
  },
  synthwave: {
    major: [
      [0, ''],
      [5, ''],
      [9, 'm'],
      [7, ''],
    ],
    minor: [
      [0, 'm'],
      [8, ''],
      [10, ''],
      [0, 'm'],
      [0, 'm'],
      [8, ''],
      [10, ''],
      [7, ''],
    ],
  },
};

/** The style's progression in the key, spelled the way the key is. */
export function styleProgression(key: MusicalKey, style: StyleName): string[] {
  const degrees = PROGRESSIONS[style][key.minor ? 'minor' : 'major'];
  return degrees.map(([offset, quality]) => `${noteName(key.tonic + offset, key)}${quality}`);
}

/** A four-bar progression in the key: I–V–vi–IV in major, i–VI–III–VII in minor. */
export function defaultProgression(key: MusicalKey): string[] {
  const degrees = key.minor
    ? [
        [0, 'm'],
        [8, ''],
        [3, ''],
        [10, ''],
      ]
    : [
        [0, ''],
        [7, ''],
        [9, 'm'],
        [5, ''],
      ];
  return degrees.map(([offset, quality]) => `${noteName(key.tonic + (offset as number), key)}${quality as string}`);
}

/**
 * Pitch-class profiles over time: STFT peaks between 55 Hz and 1.8 kHz folded onto the semitone they fall
 * nearest, root-compressed magnitudes with the bass doubled, each frame normalised to sum 1 (silent frames stay 0).
 */
export function chromaFrames(
  samples: Float32Array,
  sampleRate: number,
  windowSeconds: number,
  hopSeconds: number,
  band = { lowHz: 55, highHz: 1_800 },
): { chroma: Float32Array[]; hopSeconds: number } {
  const factor = Math.max(1, Math.floor(sampleRate / 8_000));
  const rate = sampleRate / factor;
  const reduced = decimate(samples, factor);
  const size = 2 ** Math.round(Math.log2(rate * windowSeconds));
  const hop = Math.max(1, Math.round(rate * hopSeconds));
  const { magnitudes, frames, bins, binHz } = stft(reduced, rate, size, hop);
  const low = Math.max(1, Math.ceil(band.lowHz / binHz));
  const high = Math.min(bins - 2, Math.floor(band.highHz / binHz));
  const classOf = new Int8Array(bins).fill(-1);
  for (let k = low; k <= high; k++) {
    const midi = 69 + 12 * Math.log2((k * binHz) / 440);
    // Bins far between two semitones belong to neither (they are leakage, not notes).
    if (Math.abs(midi - Math.round(midi)) < 0.35) classOf[k] = ((Math.round(midi) % 12) + 12) % 12;
  }
  const chroma: Float32Array[] = [];
  for (let f = 0; f < frames; f++) {
    const frame = new Float32Array(12);
    const row = f * bins;
    let sum = 0;
    for (let k = low; k <= high; k++) {
      const m = magnitudes[row + k];
      if (classOf[k] < 0 || m <= magnitudes[row + k - 1] || m < magnitudes[row + k + 1]) continue;
      // The bass register names the chord roots, which is where the tonic shows most: it counts double.
      const weight = k * binHz < 200 ? 2 * Math.sqrt(m) : Math.sqrt(m);
      frame[classOf[k]] += weight;
      sum += weight;
    }
    if (sum > 1e-6) for (let pc = 0; pc < 12; pc++) frame[pc] /= sum;
    chroma.push(frame);
  }
  return { chroma, hopSeconds: hop / rate };
}

/** A recording's 12-bin pitch-class profile: ~0.5 s windows (semitones resolved down to the bass), every frame counting alike. */
export function chromagram(samples: Float32Array, sampleRate: number, band?: { lowHz: number; highHz: number }): number[] {
  const total = new Array<number>(12).fill(0);
  for (const frame of chromaFrames(samples, sampleRate, 0.5, 0.25, band).chroma) for (let pc = 0; pc < 12; pc++) total[pc] += frame[pc];
  return total;
}

/**
 * The key of a recording: its chromagram matched against key profiles (Krumhansl's read audio chroma
 * better than Temperley's here). A key and its relative share every note, so between the two the bass
 * decides: the one whose tonic the bass register (62–125 Hz: above the kick's tail, below the chords)
 * sounds more often wins, when its own correlation is within 0.15 of the best.
 */
export function estimateAudioKey(samples: Float32Array, sampleRate: number, profiles: KeyProfiles = 'krumhansl'): { key: string; confidence: number } {
  const chroma = chromagram(samples, sampleRate);
  const { key, confidence } = detectKey(chroma, profiles);
  const relative = key.minor ? { tonic: (key.tonic + 3) % 12, minor: false } : { tonic: (key.tonic + 9) % 12, minor: true };
  const relativeR = keyCorrelation(chroma, relative.tonic, relative.minor, profiles);
  const bass = chromagram(samples, sampleRate, { lowHz: 62, highHz: 125 });
  const chosen = relativeR >= confidence - 0.15 && bass[relative.tonic] > bass[key.tonic] ? { key: relative, r: relativeR } : { key, r: confidence };
  return { key: keyName(chosen.key), confidence: Math.round(Math.max(0, chosen.r) * 1000) / 1000 };
}
