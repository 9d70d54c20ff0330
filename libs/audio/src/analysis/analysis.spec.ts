import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { analyzeAudio } from './analysis';
import { closeAudioWorkers } from '../dsp.pool';

const fixtures = path.resolve(__dirname, '../../../../test/fixtures');

afterAll(() => closeAudioWorkers());

describe('analyzeAudio on the phone recordings', () => {
  it('reads the quiet phone take and its cleaned copy alike', async () => {
    const [phone, clean] = await Promise.all([analyzeAudio(path.join(fixtures, 'hum-phone.m4a'), 'mov'), analyzeAudio(path.join(fixtures, 'voice-clean.wav'), 'wav')]);
    for (const analysis of [phone, clean]) {
      expect(analysis.duration_s).toBeCloseTo(11.98, 1);
      expect(analysis).toMatchObject({ sample_rate: 48000, channels: 1, tempo_source: 'onsets' });
      expect(analysis.tempo_bpm).toBeGreaterThanOrEqual(70);
      expect(analysis.tempo_bpm).toBeLessThanOrEqual(160);
      expect(analysis.key).toMatch(/^[A-G](#|b)?m?$/);
      expect(analysis.key_confidence).toBeGreaterThan(0.3);
      expect(analysis.notes.length).toBeGreaterThanOrEqual(8);
      expect(analysis.voiced_start_s).toBeGreaterThan(1);
      expect(analysis.voiced_start_s).toBeLessThan(2);
      // A speaking/humming adult voice: around G3.
      expect(analysis.median_pitch_hz).toBeGreaterThan(150);
      expect(analysis.median_pitch_hz).toBeLessThan(260);
      for (const note of analysis.notes) {
        expect(note.duration_s).toBeGreaterThanOrEqual(0.08);
        expect(note.onset_s + note.duration_s).toBeLessThanOrEqual(analysis.duration_s + 0.01);
      }
    }
    expect(phone.loudness_lufs).toBeLessThan(-40);
    expect(clean.loudness_lufs).toBeCloseTo(-16, 0);
    // Same take at different levels: the melody read from it must not depend on the level.
    expect(phone.notes.map((note) => note.midi)).toEqual(clean.notes.map((note) => note.midi));
    expect(phone.key).toBe(clean.key);
    expect(phone.tempo_bpm).toBe(clean.tempo_bpm);
    expect(clean.energy).toBeGreaterThan(phone.energy);
  });
});
