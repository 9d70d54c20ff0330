/** Pitch classes, keys, scales and chord symbols, with spellings the blueprint schema accepts. */

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

/** Krumhansl–Schmuckler: the key whose rotated profile best correlates with the pitch-class histogram. */
export function detectKey(histogram: number[]): { key: MusicalKey; confidence: number } {
  let best = { key: { tonic: 0, minor: false }, confidence: 0 };
  let bestR = -Infinity;
  for (let tonic = 0; tonic < 12; tonic++) {
    for (const minor of [false, true]) {
      const profile = minor ? MINOR_PROFILE : MAJOR_PROFILE;
      const rotated = histogram.map((_, pc) => profile[(pc - tonic + 12) % 12]);
      const r = pearson(histogram, rotated);
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
