import { writeFile } from 'node:fs/promises';
import { Midi } from '@tonejs/midi';
import type { Blueprint } from '@mcm/pipeline';
import { arrange } from '../score/arrange';
import type { Score } from '../score/score';

// GM controllers written at the start of each track.
const VOLUME = 7;
const PAN = 10;
const RELEASE_TIME = 72;
const REVERB_SEND = 91;

// @tonejs/midi stores 7-bit values as fractions and floors them when writing: the half step keeps them exact.
const seven = (value: number) => (Math.max(0, Math.min(127, Math.round(value))) + 0.5) / 127;

/**
 * The Score as a standard MIDI file (type 1, 480 PPQ): tempo, time signature and section
 * markers, then one track per instrument with its GM program (on channel 10, its drum kit), volume,
 * pan, release and reverb send, and every note exactly as the instrumental stem plays it, so a
 * producer can pick the song up in any DAW.
 */
export function scoreMidi(score: Score, title: string): Buffer {
  const midi = new Midi();
  midi.header.name = title;
  for (const { tick, bpm } of score.tempo_map) midi.header.tempos.push({ ticks: tick, bpm });
  midi.header.timeSignatures.push({ ticks: 0, timeSignature: [score.beats_per_bar, score.beat_unit] });
  for (const section of score.sections) midi.header.meta.push({ type: 'marker', text: section.name, ticks: section.startBeat * score.ppq });
  midi.header.update();

  for (const scored of score.tracks) {
    const track = midi.addTrack();
    track.name = scored.name;
    track.channel = scored.channel;
    track.instrument.number = scored.program;
    track.addCC({ number: VOLUME, value: seven(scored.volume * 127), ticks: 0 });
    track.addCC({ number: PAN, value: seven(64 + scored.pan * 63), ticks: 0 });
    track.addCC({ number: RELEASE_TIME, value: seven(scored.release), ticks: 0 });
    track.addCC({ number: REVERB_SEND, value: seven(scored.reverb * 127), ticks: 0 });
    for (const note of scored.notes) track.addNote({ midi: note.midi, ticks: note.tick, durationTicks: note.ticks, velocity: seven(note.velocity) });
  }
  return Buffer.from(midi.toArray());
}

/** The blueprint's arrangement as a MIDI file: its Score, the same one the instrumental stem is rendered from. */
export function arrangementMidi(blueprint: Blueprint): Buffer {
  return scoreMidi(arrange(blueprint), typeof blueprint.metadata?.title === 'string' ? blueprint.metadata.title : blueprint.id);
}

export async function writeArrangementMidi(blueprint: Blueprint, outMid: string): Promise<void> {
  await writeFile(outMid, arrangementMidi(blueprint));
}
