import { describe, expect, it } from 'vitest';
import type { Analysis, Blueprint } from '@mcm/pipeline';
import { composeBlueprint } from './compose';
import { parseChord, parseKey, scaleOf } from '../analysis/harmony';
import { STYLE_NAMES, STYLE_SOUNDS } from './styles';
import { vocalSections } from '../render/vocals';
import { arrange } from './arrange';
import { DRUM_CHANNEL, PPQ, tickSeconds, type Score, type ScoreNote } from './score';
import { hummedAnalysis } from '../../../../test/support/analyses';

const analysis: Analysis = hummedAnalysis({
  key: 'Am',
  notes: [
    { midi: 57, onset_s: 0.5, duration_s: 0.45 },
    { midi: 60, onset_s: 1.0, duration_s: 0.45 },
    { midi: 61, onset_s: 1.02, duration_s: 0.2 },
    { midi: 64, onset_s: 1.5, duration_s: 0.9 },
    { midi: 62, onset_s: 2.5, duration_s: 0.5 },
  ],
});

const CRASH = 49;
const TOMS = new Set([41, 43, 45, 47, 48, 50]);
const SNARE = 38;

function composed(style: string, outputKind: 'preview' | 'song' = 'preview', momentId = 'score-test'): Blueprint {
  return composeBlueprint(analysis, { momentId, style, outputKind });
}

const barTicks = (score: Score) => score.beats_per_bar * score.ppq;
const inBar = (score: Score, bar: number) => (note: ScoreNote) => note.tick >= bar * barTicks(score) - PPQ / 8 && note.tick < (bar + 1) * barTicks(score) - PPQ / 8;
const pitched = (score: Score) => score.tracks.filter((track) => track.role !== 'drums');
const drums = (score: Score) => score.tracks.find((track) => track.role === 'drums');

describe('arrange', () => {
  it('lays out the tempo map, the sections and a chord per bar from the blueprint, coming home to the tonic', () => {
    const blueprint = composed('cinematic');
    const score = arrange(blueprint);
    expect(score.ppq).toBe(480);
    expect(score.tempo_map).toEqual([{ tick: 0, bpm: blueprint.tempo_bpm }]);
    expect(score.sections.map((section) => [section.name, section.bars, section.energy])).toEqual(blueprint.sections.map((section) => [section.name, section.bars, section.energy]));
    const bars = blueprint.sections.reduce((sum, section) => sum + section.bars, 0);
    expect(score.bars).toHaveLength(bars);
    expect(score.total_beats).toBe(bars * 4);
    // The progression restarts with each section; the last bar is the tonic.
    let bar = 0;
    for (const section of blueprint.sections) {
      for (let i = 0; i < section.bars; i++, bar++) {
        if (bar === bars - 1) continue;
        expect(score.bars[bar].symbol).toBe(blueprint.chords![i % blueprint.chords!.length]);
      }
    }
    expect(score.bars.at(-1)?.chord.root).toBe(parseKey(blueprint.key).tonic);
    expect(tickSeconds(score, score.total_beats * PPQ)).toBeCloseTo((bars * 4 * 60) / blueprint.tempo_bpm, 9);
  });

  it('gives every style its band: GM programs, a drum kit on channel 10, one channel per instrument', () => {
    const expected: Record<string, number[]> = {
      cinematic: [48, 0, 56, 47, 43],
      anthem: [29, 0, 34, 27],
      lofi: [4, 32, 71],
      synthwave: [50, 90, 80, 38, 81],
    };
    for (const style of STYLE_NAMES) {
      const score = arrange(composed(style));
      const programs = pitched(score).map((track) => track.program);
      for (const program of expected[style]) expect(programs, style).toContain(program);
      expect(drums(score)?.channel).toBe(DRUM_CHANNEL);
      expect(drums(score)?.program).toBe(STYLE_SOUNDS[style].drums.kit);
      const channels = score.tracks.map((track) => track.channel);
      expect(new Set(channels).size).toBe(channels.length);
      expect(pitched(score).every((track) => track.channel !== DRUM_CHANNEL && track.channel < 16)).toBe(true);
      for (const track of score.tracks) {
        expect(track.pan).toBeGreaterThanOrEqual(-1);
        expect(track.pan).toBeLessThanOrEqual(1);
        expect(track.volume).toBeGreaterThan(0);
        for (const note of track.notes) {
          expect(Number.isInteger(note.tick) && Number.isInteger(note.ticks) && note.ticks > 0).toBe(true);
          expect(note.velocity).toBeGreaterThanOrEqual(1);
          expect(note.velocity).toBeLessThanOrEqual(127);
          expect(note.tick + note.ticks).toBeLessThanOrEqual(score.total_beats * PPQ);
        }
      }
      // A real stereo image: instruments sit left and right, not all in the middle.
      expect(Math.min(...score.tracks.map((track) => track.pan)), style).toBeLessThan(-0.2);
      expect(Math.max(...score.tracks.map((track) => track.pan)), style).toBeGreaterThan(0.2);
    }
  });

  it('rises to the chorus: more instruments and more notes per bar in each louder section', () => {
    for (const style of STYLE_NAMES) {
      const score = arrange(composed(style));
      const perSection = score.sections.map((section) => {
        // Humanisation may pull a downbeat a few ticks early: sections are counted from just before their first beat.
        const from = section.startBeat * PPQ - PPQ / 8;
        const to = (section.startBeat + section.beats) * PPQ - PPQ / 8;
        const inside = score.tracks.map((track) => track.notes.filter((note) => note.tick >= from && note.tick < to).length);
        return { instruments: inside.filter((count) => count > 0).length, notesPerBar: inside.reduce((sum, count) => sum + count, 0) / section.bars };
      });
      const [intro, verse, chorus] = perSection;
      expect(verse.instruments, style).toBeGreaterThan(intro.instruments);
      expect(chorus.instruments, style).toBeGreaterThan(verse.instruments);
      expect(verse.notesPerBar, style).toBeGreaterThan(intro.notesPerBar);
      expect(chorus.notesPerBar, style).toBeGreaterThan(verse.notesPerBar);
    }
  });

  it('plays the layers the blueprint arranges, and the voice sings where the Score says', () => {
    const blueprint = composed('anthem');
    const score = arrange(blueprint);
    const intro = score.sections[0];
    expect(intro.layers.drums).toBe(false);
    expect(drums(score)!.notes.every((note) => note.tick >= (intro.startBeat + intro.beats) * PPQ - PPQ / 8)).toBe(true);
    expect(vocalSections(blueprint).map((section) => section.startBeat)).toEqual(score.sections.filter((section) => section.layers.vocals).map((section) => section.startBeat));
    const silent = arrange({ ...blueprint, arrangement: blueprint.sections.map(() => ({ drums: false, bass: false, pads: false, lead: false })) });
    expect(silent.tracks).toEqual([]);
  });

  it('fills into each new section, crashes on each chorus downbeat and ends on one held tonic chord', () => {
    for (const style of STYLE_NAMES) {
      const blueprint = composed(style, 'song');
      const score = arrange(blueprint);
      const kit = drums(score)!;
      const fillNotes = STYLE_SOUNDS[style].drums.fill === 'toms' ? TOMS : new Set([SNARE]);
      score.sections.forEach((section, index) => {
        const next = score.sections[index + 1];
        const lastBar = section.startBar + section.bars - 1;
        const lastBeat = (beat: number) => (note: ScoreNote) => note.tick >= ((lastBar + 1) * score.beats_per_bar - beat) * PPQ - PPQ / 8;
        if (next && section.layers.drums) {
          const fill = kit.notes
            .filter(inBar(score, lastBar))
            .filter(lastBeat(1))
            .filter((note) => fillNotes.has(note.midi));
          expect(fill.length, `${style} fill before ${next.name}`).toBeGreaterThanOrEqual(2);
        }
        if (/chorus/.test(section.name) && section.layers.drums) {
          const downbeat = kit.notes.filter((note) => Math.abs(note.tick - section.startBeat * PPQ) <= PPQ / 8);
          expect(
            downbeat.some((note) => note.midi === CRASH),
            `${style} crash on ${section.name}`,
          ).toBe(true);
        }
      });
      const last = score.bars.length - 1;
      const tonic = parseChord(score.bars[last].symbol)!;
      const tones = new Set(tonic.intervals.map((interval) => (tonic.root + interval) % 12));
      const ending = pitched(score)
        .filter((track) => track.role !== 'lead')
        .flatMap((track) => track.notes.filter(inBar(score, last)));
      expect(ending.length, style).toBeGreaterThan(0);
      for (const note of ending) {
        expect(Math.abs(note.tick - last * barTicks(score)), style).toBeLessThanOrEqual(PPQ / 8);
        expect(tones.has(note.midi % 12), `${style}: ${note.midi} in the tonic chord`).toBe(true);
      }
    }
  });

  it('humanises by the blueprint id: the same id plays the same, another plays a little differently, the lead stays on the grid', () => {
    const first = arrange(composed('lofi', 'preview', 'moment-a'));
    expect(arrange(composed('lofi', 'preview', 'moment-a'))).toEqual(first);
    const other = arrange(composed('lofi', 'preview', 'moment-b'));
    const ms = (score: Score, ticks: number) => tickSeconds(score, ticks) * 1000;
    let moved = 0;
    let compared = 0;
    first.tracks.forEach((track, index) => {
      const twin = [...other.tracks[index].notes];
      expect(twin).toHaveLength(track.notes.length);
      for (const note of track.notes) {
        // The other take's nearest note of the same pitch: never more than a few milliseconds away.
        const nearest = twin.reduce(
          (best, candidate, i) => (candidate.midi === note.midi && (best < 0 || Math.abs(candidate.tick - note.tick) < Math.abs(twin[best].tick - note.tick)) ? i : best),
          -1,
        );
        expect(nearest).toBeGreaterThanOrEqual(0);
        const [match] = twin.splice(nearest, 1);
        compared++;
        if (match.tick !== note.tick || match.velocity !== note.velocity) moved++;
        expect(Math.abs(ms(first, note.tick - match.tick))).toBeLessThanOrEqual(15);
      }
    });
    expect(moved / compared).toBeGreaterThan(0.5);
    const lead = first.tracks.find((track) => track.role === 'lead')!;
    expect(lead.notes.every((note) => note.tick % (PPQ / 4) === 0)).toBe(true);
  });

  it('makes the hummed tune the lead: one target pitch per sung note, the same pitches the lead plays', () => {
    const blueprint = composed('synthwave');
    const score = arrange(blueprint, analysis);
    const lead = score.tracks.find((track) => track.role === 'lead')!;
    expect(score.melody).toBe(lead.notes);
    expect(lead.notes.map((note) => [note.midi, note.tick / PPQ])).toEqual(blueprint.melody!.map((note) => [note.midi, note.start_beat]));
    const scale = new Set(scaleOf(parseKey(blueprint.key)));
    expect(score.phrase).toHaveLength(analysis.notes.length);
    // The third note starts on the second's 16th: it is dropped, the others get a target in the key.
    expect(score.phrase!.map((note) => note.target_midi === null)).toEqual([false, false, true, false, false]);
    const targets = score.phrase!.filter((note) => note.target_midi !== null);
    for (const note of targets) expect(scale.has(note.target_midi! % 12)).toBe(true);
    // Each chorus opens with the phrase: the lead's first notes there are the targets, in order.
    const chorus = score.sections.find((section) => section.layers.lead)!;
    const opening = lead.notes.filter((note) => note.tick >= chorus.startBeat * PPQ).slice(0, targets.length);
    expect(opening.map((note) => note.midi)).toEqual(targets.map((note) => note.target_midi));
    expect(opening.map((note) => note.tick / PPQ - chorus.startBeat)).toEqual(targets.map((note) => note.start_beat));
    expect(arrange(blueprint).phrase).toBeNull();
  });

  it('lets a repeated lead note go a 32nd before it is struck again, and holds the others to the next note', () => {
    const blueprint = composed('lofi');
    const chorus = arrange(blueprint).sections.find((section) => section.layers.lead)!;
    const start = chorus.startBeat;
    blueprint.melody = [
      { midi: 60, start_beat: start, beats: 1 },
      { midi: 60, start_beat: start + 1, beats: 0.25 },
      { midi: 60, start_beat: start + 1.25, beats: 0.75 },
      { midi: 62, start_beat: start + 2, beats: 1 },
    ];
    const lead = arrange(blueprint).tracks.find((track) => track.role === 'lead')!;
    const gaps = lead.notes.slice(0, -1).map((note, i) => (lead.notes[i + 1].tick - (note.tick + note.ticks)) / PPQ);
    expect(gaps).toEqual([0.125, 0.125, 0]);
  });
});
