import { Midi } from '@tonejs/midi';
import { describe, expect, it } from 'vitest';
import type { Analysis } from '@mcm/pipeline';
import { blueprintDurationSeconds } from '@mcm/pipeline';
import { composeBlueprint } from './compose';
import { arrangementMidi } from './midi';

const analysis: Analysis = {
  duration_s: 4,
  sample_rate: 44100,
  channels: 1,
  loudness_lufs: -20,
  peak_dbfs: -6,
  voiced_start_s: 0.5,
  voiced_end_s: 3.5,
  median_pitch_hz: 220,
  notes: [
    { midi: 57, onset_s: 0.5, duration_s: 0.45 },
    { midi: 60, onset_s: 1.0, duration_s: 0.45 },
    { midi: 64, onset_s: 1.5, duration_s: 0.9 },
  ],
  tempo_bpm: 120,
  tempo_source: 'onsets',
  key: 'Am',
  key_confidence: 0.7,
  energy: 0.6,
};

describe('arrangementMidi', () => {
  it('writes a parseable MIDI file with lead, chords, bass and drums over the whole blueprint', () => {
    const blueprint = composeBlueprint(analysis, { momentId: 'midi-test', title: 'Run', outputKind: 'preview' });
    const midi = new Midi(arrangementMidi(blueprint));
    expect(midi.header.tempos[0].bpm).toBeCloseTo(blueprint.tempo_bpm, 3);
    expect(midi.header.timeSignatures[0].timeSignature).toEqual([4, 4]);
    expect(midi.tracks.map((track) => track.name)).toEqual(['Lead', 'Chords', 'Bass', 'Drums']);
    const [lead, chords, bass, drums] = midi.tracks;
    expect(drums.channel).toBe(9);
    // The hummed melody, snapped to the key, is what the lead plays in the chorus.
    expect(lead.notes.map((note) => note.midi)).toEqual(blueprint.melody!.map((note) => note.midi));
    expect(chords.notes.length).toBeGreaterThan(0);
    expect(bass.notes.every((note) => note.midi >= 36 && note.midi < 48)).toBe(true);
    // The intro (no drums in the arrangement) stays free of drums.
    const introEnd = (blueprint.sections[0].bars * 4 * 60) / blueprint.tempo_bpm;
    expect(drums.notes.every((note) => note.time >= introEnd - 1e-6)).toBe(true);
    expect(Math.abs(midi.duration - blueprintDurationSeconds(blueprint))).toBeLessThan(0.05);
  });

  it('is the same bytes for the same blueprint', () => {
    const blueprint = composeBlueprint(analysis, { momentId: 'midi-test', outputKind: 'song' });
    expect(arrangementMidi(blueprint).equals(arrangementMidi(blueprint))).toBe(true);
  });
});
