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
  /** Where the next kept note starts (or the clip ends), seconds of the clip. */
  to_s: number;
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
    source.target_midi === null || source.start_beat === null ? [] : [{ note_index: source.note_index, target_midi: source.target_midi, start_beat: source.start_beat, from_s: notes[source.note_index].onset_s - clipStart }],
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

/**
 * asendcmd lines that set the lead and harmony shifters at every hop where a ratio moves by more than a
 * cent: the lead to its shift, the harmony a diatonic third above the note's target.
 */
export function tuningCommands(shifts: Float32Array, hopSeconds: number, notes: SungNote[], key: MusicalKey): string {
  const lines: string[] = [];
  let lastLead = NaN;
  let lastHarmony = NaN;
  let noteIndex = 0;
  for (let frame = 0; frame < shifts.length; frame++) {
    while (noteIndex + 1 < notes.length && frame >= Math.round(notes[noteIndex + 1].from_s / hopSeconds)) noteIndex++;
    const target = notes[noteIndex]?.target_midi;
    const lead = shifts[frame];
    const harmony = target === undefined ? lead : lead + thirdAbove(target, key) - target;
    if (Math.abs(lead - lastLead) < 0.01 && Math.abs(harmony - lastHarmony) < 0.01) continue;
    lastLead = lead;
    lastHarmony = harmony;
    lines.push(`${(frame * hopSeconds).toFixed(3)} rubberband@lead pitch ${(2 ** (lead / 12)).toFixed(6)}, rubberband@harmony pitch ${(2 ** (harmony / 12)).toFixed(6)};`);
  }
  return lines.join('\n');
}
