import { describe, expect, it } from 'vitest';
import { blueprintDurationSeconds, validateBlueprint, type Analysis } from '@mcm/pipeline';
import { composeBlueprint } from './compose';
import { parseKey, scaleOf } from '../analysis/harmony';
import { STYLE_TEMPO } from './styles';
import { hummedAnalysis } from '../../../../test/support/analyses';

function analysis(overrides: Partial<Analysis> = {}): Analysis {
  return hummedAnalysis({
    duration_s: 12,
    sample_rate: 48000,
    peak_dbfs: -3,
    voiced_start_s: 1.5,
    voiced_end_s: 11,
    median_pitch_hz: 196,
    notes: [
      { midi: 55, onset_s: 1.5, duration_s: 0.4 },
      { midi: 57, onset_s: 2.0, duration_s: 0.4 },
      { midi: 58, onset_s: 2.5, duration_s: 0.2 },
      { midi: 61, onset_s: 2.75, duration_s: 0.7 },
      { midi: 30, onset_s: 3.6, duration_s: 0.3 },
      { midi: 104, onset_s: 4.0, duration_s: 0.3 },
    ],
    key: 'G',
    ...overrides,
  });
}

const cases: [string, Partial<Analysis>][] = [
  ['G major at 120', {}],
  ['slow F#m', { tempo_bpm: 70, key: 'F#m' }],
  ['fast Bb', { tempo_bpm: 160, key: 'Bb' }],
  ['Ebm at a fractional tempo', { tempo_bpm: 97.6, key: 'Ebm' }],
  ['no notes (style tempo)', { notes: [], tempo_source: 'style', tempo_bpm: 100, key: 'C', key_confidence: 0 }],
];

describe('composeBlueprint', () => {
  for (const [label, overrides] of cases) {
    for (const outputKind of ['preview', 'song'] as const) {
      it(`${label}, ${outputKind}: valid, right length, rising to the chorus`, () => {
        const input = analysis(overrides);
        const blueprint = composeBlueprint(input, { momentId: 'moment-1', title: 'Morning Run', outputKind });
        const validation = validateBlueprint(blueprint);
        expect(validation.errors).toEqual([]);
        expect(validation.ok).toBe(true);
        expect(blueprint.tempo_bpm).toBe(input.tempo_source === 'style' ? STYLE_TEMPO.cinematic : Math.round(input.tempo_bpm));
        expect(blueprint.key).toBe(input.key);
        expect(blueprint.id).toBe('moment-1');
        expect(blueprint.style).toBe('cinematic');
        expect(blueprint.lyrics).toBe('Morning Run, this is my moment');
        const seconds = blueprintDurationSeconds(blueprint);
        if (outputKind === 'preview') {
          expect(seconds).toBeGreaterThanOrEqual(24);
          expect(seconds).toBeLessThanOrEqual(36);
        } else {
          expect(seconds).toBeGreaterThanOrEqual(60);
          expect(seconds).toBeLessThanOrEqual(90);
        }
        const energies = blueprint.sections.map((section) => section.energy ?? 0.5);
        const chorus = blueprint.sections.findIndex((section) => section.name.includes('chorus') && !section.name.includes('pre'));
        expect(chorus).toBeGreaterThan(0);
        for (let i = 1; i <= chorus; i++) expect(energies[i]).toBeGreaterThan(energies[i - 1]);
        expect(blueprint.arrangement).toHaveLength(blueprint.sections.length);
        expect(blueprint.chords?.length).toBeGreaterThan(0);

        const scale = new Set(scaleOf(parseKey(blueprint.key)));
        const totalBeats = blueprint.sections.reduce((sum, section) => sum + section.bars, 0) * 4;
        for (const note of blueprint.melody ?? []) {
          expect(scale.has(note.midi % 12)).toBe(true);
          expect(note.midi).toBeGreaterThanOrEqual(36);
          expect(note.midi).toBeLessThanOrEqual(96);
          expect((note.start_beat * 4) % 1).toBe(0);
          expect((note.beats * 4) % 1).toBe(0);
          expect(note.start_beat + note.beats).toBeLessThanOrEqual(totalBeats);
        }
        // Every chorus opens with the whole hummed phrase on its downbeat.
        const leadSections = blueprint.arrangement!.map((layers, index) => (layers.lead ? index : -1)).filter((index) => index >= 0);
        expect(leadSections.length).toBe(input.notes.length ? (outputKind === 'song' ? 2 : 1) : 0);
        for (const index of leadSections) {
          const downbeat = blueprint.sections.slice(0, index).reduce((sum, section) => sum + section.bars, 0) * 4;
          expect(blueprint.melody?.filter((note) => note.start_beat >= downbeat && note.start_beat < downbeat + input.notes.length * 2).length).toBeGreaterThanOrEqual(input.notes.length);
          expect(blueprint.melody?.find((note) => note.start_beat >= downbeat)?.start_beat).toBe(downbeat);
        }
      });
    }
  }

  it('places the melody on the chorus downbeat, on a 16th-note grid, looped on whole bars', () => {
    const blueprint = composeBlueprint(analysis(), { momentId: 'm', outputKind: 'preview' });
    const entry = blueprint.sections.findIndex((section) => section.name === 'chorus');
    const entryBeat = blueprint.sections.slice(0, entry).reduce((sum, section) => sum + section.bars, 0) * 4;
    const chorusBeats = blueprint.sections[entry].bars * 4;
    // The phrase spans 1.5 bars, so it loops every 2 bars until the chorus ends.
    const expected: number[] = [];
    for (let loop = 0; loop < chorusBeats; loop += 8) for (const beat of [0, 1, 2, 2.5, 4.25, 5]) if (loop + beat < chorusBeats) expected.push(loop + beat);
    expect(blueprint.melody?.map((note) => note.start_beat - entryBeat)).toEqual(expected);
    expect(blueprint.melody?.slice(0, 4).map((note) => note.midi)).toEqual([55, 57, 57, 60]);
    expect(blueprint.melody?.[4].midi).toBe(42);
    expect(blueprint.melody?.[5].midi).toBe(91);
  });

  it('is deterministic and honours given lyrics and style', () => {
    const options = { momentId: 'abc', style: 'synthwave', title: 'Night Drive', lyrics: 'City lights are mine', outputKind: 'song' as const };
    const first = composeBlueprint(analysis(), options);
    const second = composeBlueprint(analysis(), options);
    expect(JSON.stringify(first)).toBe(JSON.stringify(second));
    expect(first.chords).toEqual(['G', 'C', 'Em', 'D']);
    expect(composeBlueprint(analysis({ key: 'Am' }), { momentId: 'x', style: 'epic film score', outputKind: 'preview' }).chords).toEqual(['Am', 'F', 'Dm', 'E', 'Am', 'F', 'C', 'E']);
    expect(first.style).toBe('synthwave');
    expect(first.lyrics).toBe('City lights are mine');
    expect(composeBlueprint(analysis(), { momentId: 'x', style: 'lofi', outputKind: 'preview' }).lyrics).toBe('This is my lofi moment');
  });
});
