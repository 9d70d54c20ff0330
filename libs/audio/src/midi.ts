import { writeFile } from 'node:fs/promises';
import { Midi } from '@tonejs/midi';
import { parseTimeSignature, type Blueprint, type SectionArrangement } from '@mcm/pipeline';
import { parseChord, parseKey, defaultProgression } from './harmony';

const DRUM_CHANNEL = 9;
const KICK = 36;
const SNARE = 38;
const CLOSED_HAT = 42;
const CRASH = 49;

type Layer = keyof SectionArrangement;

/** Whether a section plays a layer: the arrangement says so, else the section's energy decides as the synth does by default. */
function plays(blueprint: Blueprint, index: number, layer: Layer): boolean {
  const explicit = blueprint.arrangement?.[index]?.[layer];
  if (explicit !== undefined) return explicit;
  const energy = blueprint.sections[index].energy ?? 0.5;
  return layer === 'drums' ? energy >= 0.45 : layer === 'lead' ? energy >= 0.6 : true;
}

/**
 * The arrangement as a standard MIDI file (type 1, 480 PPQ): tempo and time signature, then tracks
 * for the lead (the hummed melody), chords, bass and drums (channel 10), section by section as the
 * blueprint lays them out, so a producer can pick the song up in any DAW.
 */
export function arrangementMidi(blueprint: Blueprint): Buffer {
  const midi = new Midi();
  const { beatsPerBar, beatUnit } = parseTimeSignature(blueprint.time_signature);
  midi.header.name = String(blueprint.metadata?.title ?? blueprint.id);
  midi.header.setTempo(blueprint.tempo_bpm);
  midi.header.timeSignatures.push({ ticks: 0, timeSignature: [beatsPerBar, beatUnit] });
  midi.header.update();
  const ppq = midi.header.ppq;
  const beat = (beats: number) => Math.round(beats * ppq);

  const lead = midi.addTrack();
  lead.name = 'Lead';
  lead.channel = 0;
  lead.instrument.number = 80;
  const chords = midi.addTrack();
  chords.name = 'Chords';
  chords.channel = 1;
  chords.instrument.number = 89;
  const bass = midi.addTrack();
  bass.name = 'Bass';
  bass.channel = 2;
  bass.instrument.number = 33;
  const drums = midi.addTrack();
  drums.name = 'Drums';
  drums.channel = DRUM_CHANNEL;

  const progression = (blueprint.chords?.length ? blueprint.chords : defaultProgression(parseKey(blueprint.key))).map(
    (symbol) => parseChord(symbol) ?? { root: parseKey(blueprint.key).tonic, intervals: [0, 4, 7] },
  );
  let sectionStart = 0;
  const sectionOf: { start: number; end: number; index: number }[] = [];
  blueprint.sections.forEach((section, index) => {
    const energy = section.energy ?? 0.5;
    const velocity = 0.45 + 0.5 * energy;
    for (let bar = 0; bar < section.bars; bar++) {
      const barStart = sectionStart + bar * beatsPerBar;
      const chord = progression[bar % progression.length];
      if (plays(blueprint, index, 'pads')) {
        for (const interval of chord.intervals) {
          chords.addNote({ midi: 48 + chord.root + interval, ticks: beat(barStart), durationTicks: beat(beatsPerBar), velocity: velocity * 0.8 });
        }
      }
      if (plays(blueprint, index, 'bass')) {
        // Busier sections push the bass on every beat; calm ones hold the root for the bar.
        const step = energy >= 0.5 ? 1 : beatsPerBar;
        for (let b = 0; b < beatsPerBar; b += step) {
          bass.addNote({ midi: 36 + chord.root, ticks: beat(barStart + b), durationTicks: beat(step * 0.9), velocity });
        }
      }
      if (plays(blueprint, index, 'drums')) {
        if (bar === 0 && energy >= 0.8) drums.addNote({ midi: CRASH, ticks: beat(barStart), durationTicks: beat(1), velocity });
        for (let b = 0; b < beatsPerBar; b++) {
          drums.addNote({ midi: b % 2 === 0 ? KICK : SNARE, ticks: beat(barStart + b), durationTicks: beat(0.25), velocity });
        }
        const hatStep = energy >= 0.6 ? 0.5 : 1;
        for (let b = 0; b < beatsPerBar; b += hatStep) {
          drums.addNote({ midi: CLOSED_HAT, ticks: beat(barStart + b), durationTicks: beat(0.125), velocity: velocity * 0.6 });
        }
      }
    }
    sectionOf.push({ start: sectionStart, end: sectionStart + section.bars * beatsPerBar, index });
    sectionStart += section.bars * beatsPerBar;
  });

  for (const note of blueprint.melody ?? []) {
    const section = sectionOf.find((span) => note.start_beat >= span.start && note.start_beat < span.end);
    if (!section || !plays(blueprint, section.index, 'lead')) continue;
    const beats = Math.min(note.beats, sectionStart - note.start_beat);
    if (beats <= 0) continue;
    lead.addNote({ midi: note.midi, ticks: beat(note.start_beat), durationTicks: beat(beats), velocity: note.velocity ?? 0.8 });
  }
  return Buffer.from(midi.toArray());
}

export async function writeArrangementMidi(blueprint: Blueprint, outMid: string): Promise<void> {
  await writeFile(outMid, arrangementMidi(blueprint));
}
