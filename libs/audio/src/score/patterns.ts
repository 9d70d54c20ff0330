import type { Chord } from '../analysis/harmony';
import type { DrumBar, PartPattern, StyleDrums } from './styles';

/** A note as a pattern writes it: beats from the bar's downbeat, velocity 0–1. */
export interface BarNote {
  midi: number;
  at: number;
  beats: number;
  velocity: number;
  /** Played over the pattern's own notes: humanised from a stream of its own, so the pattern's notes keep their feel. */
  extra?: true;
}

/** What a pattern knows about the bar it plays. */
export interface BarContext {
  chord: Chord;
  /** The next bar's chord (the same one on the last bar). */
  next: Chord;
  energy: number;
  beatsPerBar: number;
  /** Off-beat 8ths are late by this fraction of an 8th. */
  swing: number;
  /** The last bar of a section that leads into another: fills go here. */
  fill: boolean;
  /** The next section is louder (a lift into the chorus): longer fills. */
  lift: boolean;
  /** The first bar of a chorus: a crash. */
  chorusDownbeat: boolean;
  /** The song's last bar: one held chord, a last hit. */
  ending: boolean;
}

const mod12 = (value: number) => ((value % 12) + 12) % 12;

/** The lowest MIDI note at or above `from` with the pitch class `pc`. */
export function pitchAtOrAbove(pc: number, from: number): number {
  return from + mod12(pc - from);
}

/** A 16th's position in beats after swing: off-beat 8ths move late. */
export function swung(sixteenth: number, swing: number): number {
  return sixteenth / 4 + (sixteenth % 4 === 2 ? swing / 2 : 0);
}

/**
 * The chord voiced inside a register, as close as it gets to the previous voicing (common tones
 * held, the others moving by step), or centred in the register when there is none.
 */
export function voiceChord(chord: Chord, register: [number, number], previous: number[] | null, size = chord.intervals.length): number[] {
  const classes = chord.intervals.slice(0, size).map((interval) => mod12(chord.root + interval));
  const candidates: number[][] = [];
  for (let inversion = 0; inversion < classes.length; inversion++) {
    for (let base = register[0]; base < register[0] + 12; base++) {
      const voicing: number[] = [];
      let floor = base;
      for (let k = 0; k < classes.length; k++) {
        const pitch = pitchAtOrAbove(classes[(inversion + k) % classes.length], floor);
        voicing.push(pitch);
        floor = pitch + 1;
      }
      if (voicing[0] === base && voicing[voicing.length - 1] <= register[1]) candidates.push(voicing);
    }
  }
  if (!candidates.length) return classes.map((pc) => pitchAtOrAbove(pc, register[0]));
  const centre = (register[0] + register[1]) / 2;
  const cost = (voicing: number[]) => {
    if (previous && previous.length === voicing.length) return voicing.reduce((sum, pitch, k) => sum + Math.abs(pitch - previous[k]), 0);
    return Math.abs(voicing.reduce((sum, pitch) => sum + pitch, 0) / voicing.length - centre);
  };
  return candidates.reduce((best, voicing) => (cost(voicing) < cost(best) ? voicing : best));
}

/** Velocity of a part at a section's energy: louder and brighter as the song rises. */
const level = (energy: number) => 0.3 + 0.65 * energy;

/** One bar of a pitched part. `voicing` is the chord already voiced in the part's register. */
export function playPattern(pattern: PartPattern, context: BarContext, voicing: number[], register: [number, number]): BarNote[] {
  return ringToBarLine(barOf(pattern, context, voicing, register), context.beatsPerBar);
}

/** The bar's last strike is held to the bar line: a short note there leaves a hole a listener hears as a gap before the next bar. */
function ringToBarLine(notes: BarNote[], beatsPerBar: number): BarNote[] {
  const last = Math.max(...notes.map((note) => note.at));
  return notes.map((note) => (note.at === last ? { ...note, beats: beatsPerBar - note.at } : note));
}

function barOf(pattern: PartPattern, context: BarContext, voicing: number[], register: [number, number]): BarNote[] {
  const { chord, energy, beatsPerBar } = context;
  const velocity = level(energy);
  const root = pitchAtOrAbove(chord.root, register[0]);
  const fifth = root + (chord.intervals[2] ?? 7);
  const whole = (midi: number, scale = 1): BarNote => ({ midi, at: 0, beats: beatsPerBar, velocity: velocity * scale });
  const chordAt = (at: number, beats: number, scale: number, pitches = voicing) => pitches.map((midi) => ({ midi, at, beats, velocity: velocity * scale }));
  const steps = (step: number) => Array.from({ length: Math.round(beatsPerBar / step) }, (_, i) => i * step);

  if (context.ending) {
    // The last bar: every part lands on the tonic together and lets it ring.
    if (pattern.endsWith('bass')) return [whole(root, 0.95)];
    if (pattern === 'arp') return [];
    if (pattern === 'timpani') return [{ midi: root, at: 0, beats: beatsPerBar, velocity: velocity * 0.9 }];
    return chordAt(0, beatsPerBar, 0.85);
  }

  switch (pattern) {
    case 'hold':
      return chordAt(0, beatsPerBar, 0.8);
    case 'broken': {
      if (energy >= 0.7) {
        // Chorus: block chords on the strong beats with the root an octave below.
        const bass = root - 12 >= 36 ? root - 12 : root;
        return steps(beatsPerBar > 3 ? 2 : beatsPerBar).flatMap((at) => chordAt(at, beatsPerBar > 3 ? 2 : beatsPerBar, at === 0 ? 0.85 : 0.72, [bass, ...voicing]));
      }
      const tones = [root, voicing[1] ?? fifth, voicing[voicing.length - 1] + 0, (voicing[0] ?? root) + 12].filter((midi) => midi <= register[1] + 7);
      const cycle = [...tones, ...tones.slice(1, -1).reverse()];
      const step = energy >= 0.45 ? 0.5 : 1;
      // Each note rings on over the next one, like a half-held pedal.
      return steps(step).map((at, i) => ({ midi: cycle[i % cycle.length], at, beats: Math.min(step * 2, beatsPerBar - at), velocity: velocity * (at === 0 ? 0.8 : 0.62) }));
    }
    case 'stabs': {
      if (energy < 0.45) return chordAt(0, beatsPerBar, 0.7);
      if (energy < 0.7) return steps(beatsPerBar > 3 ? 2 : beatsPerBar).flatMap((at) => chordAt(at, Math.min(2, beatsPerBar - at), 0.7));
      return steps(1).flatMap((at) => chordAt(at, 0.9, at === 0 ? 0.85 : 0.72));
    }
    case 'chug': {
      const power = [root, root + 7, root + 12];
      if (energy < 0.45) return power.map((midi) => whole(midi, 0.7));
      // Verse: palm-muted power-chord 8ths (short, soft); chorus: open 8ths of the full chord (the third on top), the beat accented.
      const open = energy >= 0.7;
      const shape = open ? [...power, root + 12 + (chord.intervals[1] ?? 4)] : power;
      return steps(0.5).flatMap((at) => shape.map((midi) => ({ midi, at, beats: open ? 0.48 : 0.3, velocity: velocity * (at % 1 === 0 ? 0.85 : open ? 0.72 : 0.6) })));
    }
    case 'comp': {
      // Held in a quiet intro, then the 1 and the swung and-of-2, then the 4 as well when the groove is up.
      const strikes = (energy >= 0.7 ? [0, 6, 12] : energy >= 0.45 ? [0, 6] : [0]).filter((sixteenth) => sixteenth < beatsPerBar * 4);
      return strikes.flatMap((sixteenth, index) => {
        const at = swung(sixteenth, context.swing);
        const to = index + 1 < strikes.length ? swung(strikes[index + 1], context.swing) : beatsPerBar;
        // Each strike rings into the next one: the keys never leave a hole before the bar line.
        return chordAt(at, to - at, index === 0 ? 0.8 : 0.66);
      });
    }
    case 'arp': {
      const tones = [...voicing, voicing[0] + 12];
      const step = energy >= 0.75 ? 0.25 : 0.5;
      return steps(step).map((at, i) => ({ midi: tones[i % tones.length], at, beats: step * 0.6, velocity: velocity * (i % 4 === 0 ? 0.8 : 0.62) }));
    }
    case 'brass': {
      const power = [root, root + 7, root + 12];
      // The hero rhythm: a long note on the downbeat, a pickup on the last beat.
      return [...chordAt(0, beatsPerBar - 1, 0.85, power), ...chordAt(beatsPerBar - 1, 1, 0.7, power)];
    }
    case 'timpani': {
      const hits: BarNote[] = [{ midi: root, at: 0, beats: 1, velocity: velocity * 0.9 }];
      const busy = energy >= 0.7 && beatsPerBar >= 4;
      if (busy) hits.push({ midi: root, at: beatsPerBar / 2, beats: 1, velocity: velocity * 0.75 });
      if (context.fill) {
        // A roll through the last beat into the next section.
        for (let i = 0; i < 4; i++) hits.push({ midi: root, at: beatsPerBar - 1 + i / 4, beats: 0.25, velocity: velocity * (0.55 + 0.12 * i) });
      } else if (busy) {
        hits.push({ midi: fifth - 12 >= register[0] ? fifth - 12 : fifth, at: beatsPerBar - 0.5, beats: 0.5, velocity: velocity * 0.7 });
      }
      return hits;
    }
    case 'root-bass':
      if (energy < 0.75) return [whole(root, 0.85)];
      return steps(beatsPerBar > 3 ? 2 : beatsPerBar).map((at) => ({ midi: root, at, beats: Math.min(2, beatsPerBar - at), velocity: velocity * 0.85 }));
    case 'picked-bass': {
      if (energy < 0.45) return [whole(root, 0.8)];
      const notes = steps(0.5).map((at) => ({ midi: root, at, beats: 0.5, velocity: velocity * (at % 1 === 0 ? 0.85 : 0.7) }));
      // In the chorus the last two 8ths climb to the octave, driving into the next bar.
      if (energy >= 0.7 && notes.length >= 4) for (const note of notes.slice(-2)) note.midi = root + 12;
      return notes;
    }
    case 'jazz-bass': {
      const nextRoot = pitchAtOrAbove(context.next.root, register[0]);
      const notes: BarNote[] = [
        { midi: root, at: 0, beats: 1.5, velocity: velocity * 0.85 },
        { midi: root, at: swung(6, context.swing), beats: 1, velocity: velocity * 0.65 },
        { midi: fifth, at: 2.5, beats: energy >= 0.7 ? 1 : 1.5, velocity: velocity * 0.72 },
      ];
      // A chromatic approach into the next bar's root when the groove is up; otherwise the fifth holds to the bar line.
      if (energy >= 0.7) notes.push({ midi: nextRoot - 1 >= register[0] ? nextRoot - 1 : nextRoot + 1, at: 3.5, beats: 0.5, velocity: velocity * 0.6 });
      return notes.filter((note) => note.at < beatsPerBar).map((note) => ({ ...note, beats: Math.min(note.beats, beatsPerBar - note.at) }));
    }
    case 'octave-bass':
      if (energy < 0.5) return [whole(root, 0.8)];
      return steps(0.5).map((at, i) => ({ midi: i % 2 ? root + 12 : root, at, beats: 0.45, velocity: velocity * (i % 2 ? 0.68 : 0.85) }));
  }
}

// GM drum notes used outside the style patterns.
const KICK = 36;
const SNARE = 38;
const CRASH = 49;
const OPEN_HAT = 46;
const TOMS_DOWN = [50, 48, 47, 45, 43, 41];
const CYMBALS = new Set([42, 44, 46, 49, 51, 53, 57]);
// Hi-hats sit under the kit: at full strike they are the loudest thing above 5 kHz.
const HATS = new Set([42, 44, 46]);

/** One bar of drums: the style's calm or busy groove, a fill into the next section, a crash on a chorus downbeat. */
export function playDrums(drums: StyleDrums, context: BarContext): BarNote[] {
  const { energy, beatsPerBar } = context;
  const scale = 0.5 + 0.5 * energy;
  if (context.ending)
    return [
      { midi: KICK, at: 0, beats: 0.25, velocity: scale },
      { midi: CRASH, at: 0, beats: beatsPerBar, velocity: 0.95 * scale },
    ];
  const groove: DrumBar = energy >= 0.7 ? drums.busy : drums.calm;
  const stepCount = beatsPerBar * 4;
  const fillSteps = context.fill ? (context.lift ? 8 : 4) : 0;
  const fillFrom = Math.max(0, stepCount - fillSteps);
  const notes: BarNote[] = [];
  for (const [note, line] of Object.entries(groove)) {
    const midi = Number(note);
    for (let step = 0; step < stepCount; step++) {
      const mark = line[step % line.length];
      if (mark !== 'x' && mark !== 'o') continue;
      // Under a fill the kick keeps time; everything else makes way.
      if (step >= fillFrom && midi !== KICK) continue;
      // Quiet verses keep the cymbals down.
      if (CYMBALS.has(midi) && energy < 0.5) continue;
      notes.push({ midi, at: swung(step, context.swing), beats: 0.25, velocity: (mark === 'x' ? 1 : 0.6) * scale * (midi === KICK ? 1 : HATS.has(midi) ? 0.75 : 0.9) });
    }
  }
  for (let step = fillFrom; step < stepCount; step++) {
    const progress = (step - fillFrom + 1) / fillSteps;
    const midi = drums.fill === 'toms' ? TOMS_DOWN[Math.min(TOMS_DOWN.length - 1, Math.floor(((step - fillFrom) / fillSteps) * TOMS_DOWN.length))] : SNARE;
    // A snare fill on a calm groove plays 8ths, then 16ths in its last beat.
    if (drums.fill === 'snare' && !context.lift && step % 2 === 1 && step < stepCount - 4) continue;
    notes.push({ midi, at: swung(step, context.swing), beats: 0.25, velocity: (0.5 + 0.25 * progress) * scale });
  }
  // The fill drags into the next section: one more hit a 32nd before its downbeat, so it never dies away before the line.
  const last = context.fill ? notes.at(-1) : undefined;
  if (last) notes.push({ ...last, at: beatsPerBar - 0.125, beats: 0.125, extra: true });
  // Into a louder section the hi-hat opens on the last 8th and rings across the bar line.
  if (context.fill && context.lift) notes.push({ midi: OPEN_HAT, at: swung(stepCount - 2, context.swing), beats: 0.5, velocity: 0.9 * scale });
  if (context.chorusDownbeat) {
    notes.push({ midi: CRASH, at: 0, beats: beatsPerBar, velocity: 0.9 * scale });
    if (!notes.some((note) => note.midi === KICK && note.at === 0)) notes.push({ midi: KICK, at: 0, beats: 0.25, velocity: scale });
  }
  return notes;
}
