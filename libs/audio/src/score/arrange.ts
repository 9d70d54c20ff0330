import { parseTimeSignature, type Analysis, type Blueprint } from '@mcm/pipeline';
import { parseChord, parseKey, styleProgression, type Chord } from '../analysis/harmony';
import { resolveStyle, STYLE_SOUNDS, type StylePart } from './styles';
import { scoreSections } from './form';
import { quantisePhrase } from './melody';
import { seededRandom } from './random';
import { playDrums, playPattern, voiceChord, type BarContext, type BarNote } from './patterns';
import { DRUM_CHANNEL, PPQ, type Score, type ScoreBar, type ScoreNote, type ScoreSection, type ScoreTrack, type TrackRole } from './score';

const CHORUS_NAME = /chorus|hook/i;
// Humanisation: how far a hit may land from the grid, and how much its velocity may vary.
const PITCHED_JITTER_MS = 7;
const DRUM_JITTER_MS = 3;
const VELOCITY_JITTER = 0.1;

/** A chord per bar: the blueprint's progression (else the style's), restarting with each section; the last bar comes home to the tonic. */
function chordBars(blueprint: Blueprint, sections: ScoreSection[]): ScoreBar[] {
  const key = parseKey(blueprint.key);
  const fallback = styleProgression(key, resolveStyle(blueprint.style));
  const symbols = blueprint.chords?.length ? blueprint.chords : fallback;
  const progression = symbols.map((symbol, index) => {
    const parsed = parseChord(symbol);
    return parsed ? { symbol, chord: parsed } : { symbol: fallback[index % fallback.length], chord: parseChord(fallback[index % fallback.length]) as Chord };
  });
  const tonic = progression.find(({ chord }) => chord.root === key.tonic) ?? { symbol: fallback[0], chord: parseChord(fallback[0]) as Chord };
  const bars: ScoreBar[] = [];
  for (const section of sections) {
    for (let barInSection = 0; barInSection < section.bars; barInSection++) {
      const { symbol, chord } = progression[barInSection % progression.length];
      bars.push({ bar: section.startBar + barInSection, section: section.index, symbol, chord });
    }
  }
  if (bars.length) Object.assign(bars[bars.length - 1], { symbol: tonic.symbol, chord: tonic.chord });
  return bars;
}

interface TrackPlan {
  name: string;
  role: TrackRole;
  program: number;
  pan: number;
  volume: number;
  reverb: number;
  release: number;
  /** Notes in beats, before humanisation. */
  notes: BarNote[];
  jitterMs: number;
}

/** Joins a held note to the same pitch held on from the bar before, so pads sustain across bars with the same chord tones. */
function tieHeldNotes(notes: BarNote[]): BarNote[] {
  const open = new Map<number, BarNote>();
  const tied: BarNote[] = [];
  for (const note of [...notes].sort((a, b) => a.at - b.at)) {
    const previous = open.get(note.midi);
    if (previous && Math.abs(previous.at + previous.beats - note.at) < 1e-9) {
      previous.beats += note.beats;
      continue;
    }
    const copy = { ...note };
    open.set(note.midi, copy);
    tied.push(copy);
  }
  return tied;
}

/**
 * The whole arrangement of a blueprint, decided in one place: the tempo map and sections, a chord
 * per bar, the style's band (GM programs, a drum kit, pans and levels), every note with its
 * velocity, fills into each new section, a crash on each chorus downbeat, an ending on the tonic,
 * and a small humanisation seeded by the blueprint id. The lead plays the hummed tune; with the
 * analysis, the Score also says which target pitch each sung note gets. Same input, same Score.
 */
export function arrange(blueprint: Blueprint, analysis?: Pick<Analysis, 'notes' | 'voiced_start_s'> | null): Score {
  const { beatsPerBar, beatUnit } = parseTimeSignature(blueprint.time_signature);
  const style = resolveStyle(blueprint.style);
  const sound = STYLE_SOUNDS[style];
  const sections = scoreSections(blueprint);
  const bars = chordBars(blueprint, sections);
  const totalBeats = bars.length * beatsPerBar;
  const totalTicks = totalBeats * PPQ;

  const contexts: BarContext[] = bars.map((bar, index) => {
    const section = sections[bar.section];
    const next = sections[bar.section + 1];
    const lastOfSection = bar.bar === section.startBar + section.bars - 1;
    return {
      chord: bar.chord,
      next: (bars[index + 1] ?? bar).chord,
      energy: section.energy,
      beatsPerBar,
      swing: sound.swing,
      fill: lastOfSection && next !== undefined,
      lift: lastOfSection && next !== undefined && next.energy > section.energy,
      chorusDownbeat: bar.bar === section.startBar && (CHORUS_NAME.test(section.name) || section.energy >= 0.8),
      ending: index === bars.length - 1,
    };
  });

  const partPlan = (part: StylePart): TrackPlan => {
    const notes: BarNote[] = [];
    let previous: number[] | null = null;
    bars.forEach((bar, index) => {
      const section = sections[bar.section];
      const voicing = voiceChord(bar.chord, part.register, previous);
      previous = voicing;
      if (!section.layers[part.layer] || section.energy < part.from || section.energy >= (part.until ?? Infinity)) return;
      const origin = bar.bar * beatsPerBar;
      for (const note of playPattern(part.pattern, contexts[index], voicing, part.register)) notes.push({ ...note, at: origin + note.at });
    });
    return {
      name: part.name,
      role: part.role,
      program: part.program,
      pan: part.pan,
      volume: part.volume,
      reverb: part.reverb,
      release: part.release ?? 64,
      notes: part.pattern === 'hold' ? tieHeldNotes(notes) : notes,
      jitterMs: PITCHED_JITTER_MS,
    };
  };

  const leadNotes: BarNote[] = [];
  for (const note of blueprint.melody ?? []) {
    if (note.start_beat >= totalBeats) continue;
    const section = sections.find((span) => note.start_beat < span.startBeat + span.beats);
    if (!section?.layers.lead) continue;
    const velocity = (note.velocity ?? 0.8) * (0.75 + 0.25 * section.energy);
    leadNotes.push({ midi: note.midi, at: note.start_beat, beats: Math.min(note.beats, totalBeats - note.start_beat), velocity });
  }
  detachRepeats(leadNotes);

  const drumNotes: BarNote[] = [];
  bars.forEach((bar, index) => {
    if (!sections[bar.section].layers.drums) return;
    const origin = bar.bar * beatsPerBar;
    for (const note of playDrums(sound.drums, contexts[index])) drumNotes.push({ ...note, at: origin + note.at });
  });

  const plans: TrackPlan[] = [
    // The lead keeps the grid exactly: the voice is placed and tuned against it.
    { ...sound.lead, release: sound.lead.release ?? 64, role: 'lead', notes: leadNotes, jitterMs: 0 },
    ...sound.parts.map(partPlan),
    { name: 'Drums', role: 'drums', program: sound.drums.kit, pan: 0, volume: sound.drums.volume, reverb: sound.drums.reverb, release: 64, notes: drumNotes, jitterMs: DRUM_JITTER_MS },
  ];

  const ticksPerMs = (blueprint.tempo_bpm / 60) * (PPQ / 1000);
  let channel = 0;
  const tracks: ScoreTrack[] = [];
  for (const plan of plans) {
    const drums = plan.role === 'drums';
    const trackChannel = drums ? DRUM_CHANNEL : channel++;
    if (channel === DRUM_CHANNEL) channel++;
    // Each track draws from its own sequence, so one part's notes never change another's feel.
    const random = seededRandom(`${blueprint.id}/${plan.name}`);
    const extraRandom = seededRandom(`${blueprint.id}/${plan.name}/extra`);
    const placed = plan.notes
      .map((note): ScoreNote => {
        const draw = note.extra ? extraRandom : random;
        const shift = (draw() * 2 - 1) * plan.jitterMs * ticksPerMs;
        const swell = 1 + (draw() * 2 - 1) * VELOCITY_JITTER;
        const tick = Math.max(0, Math.round(note.at * PPQ + (note.at > 0 ? shift : 0)));
        return {
          midi: note.midi,
          tick,
          ticks: Math.max(1, Math.min(Math.round(note.beats * PPQ), totalTicks - tick)),
          velocity: Math.max(1, Math.min(127, Math.round(127 * note.velocity * (plan.role === 'lead' ? 1 : swell)))),
        };
      })
      .filter((note) => note.tick < totalTicks)
      .sort((a, b) => a.tick - b.tick || a.midi - b.midi);
    const notes = separateRepeats(placed);
    if (!notes.length) continue;
    tracks.push({ name: plan.name, role: plan.role, channel: trackChannel, program: plan.program, pan: plan.pan, volume: plan.volume, reverb: plan.reverb, release: plan.release, notes });
  }

  return {
    id: blueprint.id,
    style,
    ppq: PPQ,
    tempo_map: [{ tick: 0, bpm: blueprint.tempo_bpm }],
    beats_per_bar: beatsPerBar,
    beat_unit: beatUnit,
    key: blueprint.key,
    total_beats: totalBeats,
    sections,
    bars,
    tracks,
    melody: tracks.find((track) => track.role === 'lead')?.notes ?? [],
    phrase: analysis ? quantisePhrase(analysis, blueprint.tempo_bpm, parseKey(blueprint.key)).sources : null,
  };
}

// A repeated note of the lead lets go this long before it is struck again (at most half its length).
const REPEAT_GAP_BEATS = 0.125;

/** The lead re-strikes a repeated pitch as a player re-tongues or re-picks it: a short silence before, so the two are heard as two. */
function detachRepeats(notes: BarNote[]): void {
  const byStart = [...notes].sort((a, b) => a.at - b.at);
  byStart.forEach((note, index) => {
    const next = byStart[index + 1];
    if (next?.midi === note.midi && next.at <= note.at + note.beats + 1e-9) note.beats = Math.min(note.beats, next.at - note.at) - Math.min(REPEAT_GAP_BEATS, (next.at - note.at) / 2);
  });
}

/** A note that would still sound when the same key strikes again is cut there, and a doubled strike is one: one key, one voice, as MIDI expects. */
function separateRepeats(notes: ScoreNote[]): ScoreNote[] {
  const sounding = new Map<number, ScoreNote>();
  const kept: ScoreNote[] = [];
  for (const note of notes) {
    const previous = sounding.get(note.midi);
    if (previous && previous.tick === note.tick) {
      previous.velocity = Math.max(previous.velocity, note.velocity);
      previous.ticks = Math.max(previous.ticks, note.ticks);
      continue;
    }
    if (previous && previous.tick + previous.ticks > note.tick) previous.ticks = note.tick - previous.tick;
    sounding.set(note.midi, note);
    kept.push(note);
  }
  return kept;
}
