import { Midi } from '@tonejs/midi';
import { describe, expect, it } from 'vitest';
import type { Analysis } from '@mcm/pipeline';
import { blueprintDurationSeconds } from '@mcm/pipeline';
import { composeBlueprint } from '../score/compose';
import { arrangementMidi } from './midi';
import { arrange } from '../score/arrange';
import { STYLE_NAMES, STYLE_SOUNDS } from '../score/styles';
import { hummedAnalysis } from '../../../../test/support/analyses';

const analysis: Analysis = hummedAnalysis({
  duration_s: 4,
  voiced_end_s: 3.5,
  key: 'Am',
  notes: [
    { midi: 57, onset_s: 0.5, duration_s: 0.45 },
    { midi: 60, onset_s: 1.0, duration_s: 0.45 },
    { midi: 64, onset_s: 1.5, duration_s: 0.9 },
  ],
});

describe('arrangementMidi', () => {
  it('writes the Score: one track per instrument with its program, level and pan, every note as the stem plays it', () => {
    for (const style of STYLE_NAMES) {
      const blueprint = composeBlueprint(analysis, { momentId: 'midi-test', title: 'Run', style, outputKind: 'preview' });
      const score = arrange(blueprint);
      const midi = new Midi(arrangementMidi(blueprint));
      expect(midi.header.name).toBe('Run');
      expect(midi.header.ppq).toBe(score.ppq);
      expect(midi.header.tempos[0].bpm).toBeCloseTo(blueprint.tempo_bpm, 3);
      expect(midi.header.timeSignatures[0].timeSignature).toEqual([4, 4]);
      expect(midi.header.meta.filter((event) => event.type === 'marker').map((event) => [event.text, event.ticks])).toEqual(
        score.sections.map((section) => [section.name, section.startBeat * score.ppq]),
      );
      expect(midi.tracks.map((track) => [track.name, track.channel, track.instrument.number])).toEqual(score.tracks.map((track) => [track.name, track.channel, track.program]));
      midi.tracks.forEach((track, index) => {
        const scored = score.tracks[index];
        expect(track.notes.map((note) => [note.midi, note.ticks, note.durationTicks, Math.round(note.velocity * 127)])).toEqual(
          scored.notes.map((note) => [note.midi, note.tick, note.ticks, note.velocity]),
        );
        const cc = (number: number) => Math.round((track.controlChanges[number]?.[0]?.value ?? -1) * 127);
        expect(cc(7)).toBe(Math.round(scored.volume * 127));
        expect(cc(10)).toBe(Math.round(64 + scored.pan * 63));
        expect(cc(72)).toBe(scored.release);
      });
      const [lead] = midi.tracks;
      // The hummed melody, snapped to the key, is what the lead plays in the chorus.
      expect(lead.notes.map((note) => note.midi)).toEqual(blueprint.melody!.map((note) => note.midi));
      const drums = midi.tracks.find((track) => track.channel === 9)!;
      expect(drums.instrument.number).toBe(STYLE_SOUNDS[style].drums.kit);
      // The intro (no drums in the arrangement) stays free of drums.
      const introEnd = (blueprint.sections[0].bars * 4 * 60) / blueprint.tempo_bpm;
      expect(drums.notes.every((note) => note.time >= introEnd - 0.02)).toBe(true);
      expect(Math.abs(midi.duration - blueprintDurationSeconds(blueprint))).toBeLessThan(0.05);
    }
  });

  it('is the same bytes for the same blueprint', () => {
    const blueprint = composeBlueprint(analysis, { momentId: 'midi-test', outputKind: 'song' });
    expect(arrangementMidi(blueprint).equals(arrangementMidi(blueprint))).toBe(true);
  });
});
