import type { SectionArrangement } from '@mcm/pipeline';
import type { Chord } from '../analysis/harmony';
import type { StyleName } from './styles';

/** Ticks per beat of every Score (and of `arrangement.mid`). */
export const PPQ = 480;
/** The General MIDI percussion channel (channel 10, counted from 1). */
export const DRUM_CHANNEL = 9;

/** One note: pitch, start and length in ticks, velocity 1–127. */
export interface ScoreNote {
  midi: number;
  tick: number;
  ticks: number;
  velocity: number;
}

export type TrackRole = 'lead' | 'chords' | 'pad' | 'counter' | 'arp' | 'bass' | 'percussion' | 'drums';

/** One instrument of the arrangement, as a MIDI track: a GM program (or, on the drum channel, a drum kit), its place and level. */
export interface ScoreTrack {
  name: string;
  role: TrackRole;
  channel: number;
  /** GM program 0–127; on the drum channel, the GS drum kit (0 standard, 16 power, 24 electronic, 32 jazz …). */
  program: number;
  /** −1 (left) … 1 (right). */
  pan: number;
  /** Channel volume 0–1 (CC 7). */
  volume: number;
  /** Send to the shared reverb of the render chain, 0–1 (CC 91 in the MIDI file). */
  reverb: number;
  /** Release time, GS CC 72: 64 as sampled, lower rings shorter. */
  release: number;
  notes: ScoreNote[];
}

/** The layers a section plays; every part of the engine reads them from here. */
export type SectionLayers = Required<SectionArrangement>;

export interface ScoreSection {
  index: number;
  name: string;
  energy: number;
  startBar: number;
  bars: number;
  /** First beat and length in beats (a beat is `PPQ` ticks). */
  startBeat: number;
  beats: number;
  layers: SectionLayers;
}

/** The chord of one bar; `symbol` as the blueprint spells it. */
export interface ScoreBar {
  bar: number;
  section: number;
  symbol: string;
  chord: Chord;
}

/**
 * Where the hummed take sits in the arrangement, one entry per detected note of the analysis:
 * the target pitch the lead plays and the vocal is corrected to, and its beat in the phrase.
 * Notes the quantiser drops (before the first onset, or on an occupied 16th) have no target.
 */
export interface PhraseNote {
  note_index: number;
  target_midi: number | null;
  start_beat: number | null;
}

export interface Score {
  id: string;
  style: StyleName;
  ppq: number;
  /** Tempo changes by tick; the blueprint's length is fixed, so one entry today. */
  tempo_map: { tick: number; bpm: number }[];
  beats_per_bar: number;
  beat_unit: number;
  key: string;
  total_beats: number;
  sections: ScoreSection[];
  bars: ScoreBar[];
  tracks: ScoreTrack[];
  /** The lead's notes: the hummed tune, quantised, one target pitch per note (the vocal's targets too). */
  melody: ScoreNote[];
  /** The take's notes and where the phrase starts in each hook, when the Score was arranged with the analysis. */
  phrase: PhraseNote[] | null;
}

/** Seconds at a tick under the Score's (constant) tempo. */
export function tickSeconds(score: Pick<Score, 'tempo_map' | 'ppq'>, tick: number): number {
  return (tick * 60) / (score.tempo_map[0].bpm * score.ppq);
}
