import type { Analysis } from '@mcm/pipeline';
import { scaleOf, type MusicalKey } from '../analysis/harmony';
import type { QuantisedPhrase } from '../score/melody';

/** One note of the take the Score kept: its target pitch and beat in the phrase, and its span in the trimmed clip. */
export interface SungNote {
  note_index: number;
  target_midi: number;
  start_beat: number;
  /** Onset in seconds of the clip. */
  from_s: number;
  /** Where the next kept note starts (or the clip ends), seconds of the clip; earlier when the voice stops inside the note. */
  to_s: number;
  /** The voice stopped before `to_s` would have been: the note's end is already its release. */
  voice_ended?: boolean;
}

// A measured frame further than this from its target is a tracker octave slip, read an octave nearer.
const SLIP_SEMITONES = 7;
// The most a frame is moved: beyond this the tracker is wrong, not the singer.
const MAX_SHIFT = 5;
// Frames of the median (spikes) and of the moving average (a smooth ratio) inside a note.
const MEDIAN_FRAMES = 5;
const AVERAGE_FRAMES = 3;

/** The take's notes that carry a target in the Score's phrase, in clip seconds; each lasts until the next one starts. */
export function sungNotes(notes: Analysis['notes'], phrase: QuantisedPhrase, clipStart: number, clipSeconds: number): SungNote[] {
  const kept = phrase.sources.flatMap((source) =>
    source.target_midi === null || source.start_beat === null
      ? []
      : [{ note_index: source.note_index, target_midi: source.target_midi, start_beat: source.start_beat, from_s: notes[source.note_index].onset_s - clipStart }],
  );
  return kept
    .filter((note) => note.from_s < clipSeconds)
    .map((note, index, all) => ({ ...note, from_s: Math.max(0, note.from_s), to_s: Math.min(clipSeconds, all[index + 1]?.from_s ?? clipSeconds) }));
}

/** The scale tone a diatonic third above a tone of the key (two scale steps up). */
export function thirdAbove(midi: number, key: MusicalKey): number {
  const scale = new Set(scaleOf(key));
  let steps = 0;
  for (let candidate = midi + 1; candidate <= midi + 5; candidate++) {
    if (scale.has(((candidate % 12) + 12) % 12) && ++steps === 2) return candidate;
  }
  return midi + 4;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

/**
 * The shift, in semitones, that puts each frame of the clip on its note's target: the target minus the
 * frame's measured pitch, octave slips folded, spikes removed and the ratio smoothed inside the note, so
 * scoops and slides within a note go while each attack keeps its own target. Unvoiced frames take the
 * note's median shift; frames before the first note take the first note's.
 */
export function tuningShifts(contour: Float32Array, hopSeconds: number, offsetFrames: number, notes: SungNote[], frames: number): Float32Array {
  const shifts = new Float32Array(frames);
  notes.forEach((note, index) => {
    const from = index === 0 ? 0 : Math.max(0, Math.round(note.from_s / hopSeconds));
    const to = index === notes.length - 1 ? frames : Math.min(frames, Math.round(note.to_s / hopSeconds));
    if (to <= from) return;
    const raw: number[] = [];
    for (let frame = from; frame < to; frame++) {
      const measured = contour[frame + offsetFrames];
      if (measured === undefined || Number.isNaN(measured)) {
        raw.push(NaN);
        continue;
      }
      let shift = note.target_midi - measured;
      if (Math.abs(shift) > SLIP_SEMITONES) shift -= 12 * Math.round(shift / 12);
      raw.push(Math.abs(shift) <= MAX_SHIFT ? shift : NaN);
    }
    const voiced = raw.filter((value) => !Number.isNaN(value));
    const fill = voiced.length ? median(voiced) : 0;
    const filled = raw.map((value) => (Number.isNaN(value) ? fill : value));
    const half = MEDIAN_FRAMES >> 1;
    const despiked = filled.map((_, i) => median(filled.slice(Math.max(0, i - half), i + half + 1)));
    const reach = AVERAGE_FRAMES >> 1;
    despiked.forEach((_, i) => {
      const around = despiked.slice(Math.max(0, i - reach), i + reach + 1);
      shifts[from + i] = around.reduce((sum, value) => sum + value, 0) / around.length;
    });
  });
  return shifts;
}

/** Per note: the median correction applied over its span, in cents (NaN where no frame of it was pitched). */
export function noteCorrections(contour: Float32Array, hopSeconds: number, offsetFrames: number, notes: SungNote[], count: number): number[] {
  const cents = new Array<number>(count).fill(NaN);
  for (const note of notes) {
    const shifts: number[] = [];
    for (let frame = Math.round(note.from_s / hopSeconds); frame < Math.round(note.to_s / hopSeconds); frame++) {
      const measured = contour[frame + offsetFrames];
      if (measured !== undefined && !Number.isNaN(measured)) {
        let shift = note.target_midi - measured;
        if (Math.abs(shift) > SLIP_SEMITONES) shift -= 12 * Math.round(shift / 12);
        if (Math.abs(shift) <= MAX_SHIFT) shifts.push(shift);
      }
    }
    if (shifts.length) cents[note.note_index] = Math.round(median(shifts) * 1000) / 10;
  }
  return cents;
}

// Where the take has no pitch, grains this long (5 ms) are laid back where they were cut: it passes unchanged.
const UNVOICED_GRAIN_SECONDS = 0.005;

const hannWindows = new Map<number, Float32Array>();

/** A Hann window 2·half + 1 frames long; grains `half` apart sum to one. */
function hann(half: number): Float32Array {
  let window = hannWindows.get(half);
  if (!window) {
    window = Float32Array.from({ length: 2 * half + 1 }, (_, k) => 0.5 + 0.5 * Math.cos((Math.PI * (k - half)) / half));
    hannWindows.set(half, window);
  }
  return window;
}

/**
 * Pitch-synchronous overlap-add: Hann grains two periods long are cut at marks one period of the signal
 * apart (`periodAt`, frames; null where unvoiced) and laid `ratioAt` times closer, so the pitch moves by
 * that ratio while the length and the vowel (its formants) stay. Same length as `signal`.
 */
function overlapAdd(signal: Float32Array, periodAt: (frame: number) => number | null, ratioAt: (frame: number) => number, unvoicedPeriod: number): Float32Array {
  const marks: number[] = [];
  const periods: number[] = [];
  const voiced: boolean[] = [];
  for (let at = 0; at < signal.length;) {
    const period = periodAt(Math.round(at));
    marks.push(Math.round(at));
    periods.push(period ?? unvoicedPeriod);
    voiced.push(period !== null);
    at += period ?? unvoicedPeriod;
  }
  const out = new Float32Array(signal.length);
  let mark = 0;
  for (let at = 0; at < signal.length;) {
    while (mark + 1 < marks.length && Math.abs(marks[mark + 1] - at) <= Math.abs(marks[mark] - at)) mark++;
    const ratio = voiced[mark] ? ratioAt(Math.round(at)) : 1;
    const half = Math.max(1, Math.round(periods[mark]));
    const window = hann(half);
    const source = marks[mark];
    const target = Math.round(at);
    // Grains a period apart sum to one; `ratio` times closer they sum to `ratio`.
    const gain = 1 / ratio;
    const from = Math.max(-half, -source, -target);
    const to = Math.min(half, signal.length - 1 - source, out.length - 1 - target);
    for (let k = from; k <= to; k++) out[target + k] += signal[source + k] * window[k + half] * gain;
    at += periods[mark] / ratio;
  }
  return out;
}

const hzOf = (midi: number) => 440 * 2 ** ((midi - 69) / 12);

/** The note sounding at each hop of the clip: the last one started by then, else the first. */
function notesByHop(notes: SungNote[], hopSeconds: number, hops: number): SungNote[] {
  const byHop: SungNote[] = [];
  let index = 0;
  for (let hop = 0; hop < hops; hop++) {
    while (index + 1 < notes.length && hop >= Math.round(notes[index + 1].from_s / hopSeconds)) index++;
    byHop.push(notes[index]);
  }
  return byHop;
}

/** The take's pitch track, read from the clip's start. */
export interface ClipPitch {
  contour: Float32Array;
  hopSeconds: number;
  /** Track frame of the clip's first frame. */
  offsetFrames: number;
}

/**
 * The clip tuned frame by frame: each grain of it moved by its hop's shift (`tuningShifts`), its
 * period read from the pitch track (an octave slip read at the octave the shift assumes).
 */
export function tuneClip(clip: Float32Array, sampleRate: number, pitch: ClipPitch, notes: SungNote[], shifts: Float32Array): Float32Array {
  const hop = pitch.hopSeconds * sampleRate;
  const byHop = notesByHop(notes, pitch.hopSeconds, shifts.length);
  const hopOf = (frame: number) => Math.min(shifts.length - 1, Math.round(frame / hop));
  const periodAt = (frame: number): number | null => {
    const at = hopOf(frame);
    const measured = pitch.contour[at + pitch.offsetFrames];
    if (measured === undefined || Number.isNaN(measured) || !byHop[at]) return null;
    const sung = byHop[at].target_midi - shifts[at];
    return sampleRate / hzOf(measured + 12 * Math.round((sung - measured) / 12));
  };
  return overlapAdd(clip, periodAt, (frame) => 2 ** (shifts[hopOf(frame)] / 12), UNVOICED_GRAIN_SECONDS * sampleRate);
}

/**
 * The harmony: the tuned clip moved note by note from its target to a diatonic third above it in the
 * key, where the take is pitched (its period the target's: it is tuned there).
 */
export function harmonyOf(tuned: Float32Array, sampleRate: number, pitch: ClipPitch, notes: SungNote[], key: MusicalKey): Float32Array {
  const hop = pitch.hopSeconds * sampleRate;
  const hops = Math.ceil(tuned.length / hop);
  const byHop = notesByHop(notes, pitch.hopSeconds, hops);
  const hopOf = (frame: number) => Math.min(hops - 1, Math.round(frame / hop));
  const periodAt = (frame: number): number | null => {
    const at = hopOf(frame);
    const note = byHop[at];
    return note && !Number.isNaN(pitch.contour[at + pitch.offsetFrames] ?? NaN) ? sampleRate / hzOf(note.target_midi) : null;
  };
  const ratioAt = (frame: number) => {
    const note = byHop[hopOf(frame)];
    return 2 ** ((thirdAbove(note.target_midi, key) - note.target_midi) / 12);
  };
  return overlapAdd(tuned, periodAt, ratioAt, UNVOICED_GRAIN_SECONDS * sampleRate);
}
