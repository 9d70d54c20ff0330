import type { Analysis, MelodyNote } from '@mcm/pipeline';
import { snapToScale, type MusicalKey } from '../analysis/harmony';
import type { PhraseNote } from './score';

// Melody grid: 16th notes.
const GRID = 0.25;

export interface QuantisedPhrase {
  /** The phrase from beat 0, one note per kept take note. */
  notes: MelodyNote[];
  /** Per note of the analysis: its target pitch and beat in the phrase, or null where it was dropped. */
  sources: PhraseNote[];
}

/**
 * The hummed phrase on a 16th-note grid from beat 0, each note snapped to the key (one target pitch
 * per note) and kept in a singable register. The lead plays these pitches and the voice is tuned to them.
 */
export function quantisePhrase(analysis: Pick<Analysis, 'notes' | 'voiced_start_s'>, tempo: number, key: MusicalKey): QuantisedPhrase {
  const secondsPerBeat = 60 / tempo;
  const origin = analysis.notes[0]?.onset_s ?? analysis.voiced_start_s;
  const notes: MelodyNote[] = [];
  const kept: { index: number; note: MelodyNote }[] = [];
  analysis.notes.forEach((note, index) => {
    const start = Math.round((note.onset_s - origin) / secondsPerBeat / GRID) * GRID;
    const beats = Math.max(GRID, Math.round(note.duration_s / secondsPerBeat / GRID) * GRID);
    if (start < 0) return;
    const previous = notes.at(-1);
    if (previous && previous.start_beat === start) return;
    if (previous && previous.start_beat + previous.beats > start) previous.beats = start - previous.start_beat;
    let midi = snapToScale(Math.round(note.midi), key);
    while (midi < 36) midi += 12;
    while (midi > 96) midi -= 12;
    const placed = { midi, start_beat: start, beats, velocity: 0.8 };
    notes.push(placed);
    kept.push({ index, note: placed });
  });
  const sources: PhraseNote[] = analysis.notes.map((_, index) => ({ note_index: index, target_midi: null, start_beat: null }));
  for (const { index, note } of kept) sources[index] = { note_index: index, target_midi: note.midi, start_beat: note.start_beat };
  return { notes, sources };
}

/**
 * The phrase placed at the start of every section the lead plays, looped on whole bars to fill it and
 * cut at its end, so each chorus carries the hummed tune from its downbeat.
 */
export function placeMelody(phrase: MelodyNote[], sections: { startBeat: number; beats: number; lead: boolean }[], beatsPerBar: number): MelodyNote[] {
  if (!phrase.length) return [];
  const loopBeats = phraseLoopBeats(phrase, beatsPerBar);
  const melody: MelodyNote[] = [];
  for (const section of sections) {
    if (!section.lead) continue;
    const end = section.startBeat + section.beats;
    for (const loop of phraseLoops(section, loopBeats)) {
      for (const note of phrase) {
        const start = loop + note.start_beat;
        if (start >= end) break;
        melody.push({ ...note, start_beat: start, beats: Math.min(note.beats, end - start) });
      }
    }
  }
  return melody.slice(0, 4096);
}

/** The beats a section restarts the phrase on: its downbeat, then every loop, while inside it. The lead and the voice both follow these. */
export function phraseLoops(section: { startBeat: number; beats: number }, loopBeats: number): number[] {
  const loops: number[] = [];
  for (let loop = section.startBeat; loop < section.startBeat + section.beats; loop += loopBeats) loops.push(loop);
  return loops;
}

/** How often the phrase repeats: its length rounded up to whole bars. */
export function phraseLoopBeats(phrase: MelodyNote[], beatsPerBar: number): number {
  const last = phrase[phrase.length - 1];
  return last ? Math.max(beatsPerBar, Math.ceil((last.start_beat + last.beats) / beatsPerBar) * beatsPerBar) : beatsPerBar;
}
