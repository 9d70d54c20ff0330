import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { analyzeAudio } from './analysis';
import { closeAudioWorkers } from './dsp.pool';
import { encodeWav16 } from './wav';

afterAll(() => closeAudioWorkers());

/** A hummed-like tone sequence: fundamental plus two harmonics, short gaps, a little noise. */
function hum(notes: { midi: number; seconds: number }[], rate: number, gap = 0.08): Float32Array {
  const total = notes.reduce((sum, note) => sum + note.seconds + gap, 0.3);
  const out = new Float32Array(Math.round(total * rate));
  let seed = 7;
  const noise = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.002;
  let cursor = Math.round(0.2 * rate);
  for (const note of notes) {
    const hz = 440 * 2 ** ((note.midi - 69) / 12);
    const length = Math.round(note.seconds * rate);
    for (let i = 0; i < length; i++) {
      const t = i / rate;
      const envelope = Math.min(1, i / (0.02 * rate), (length - i) / (0.02 * rate));
      const tone = Math.sin(2 * Math.PI * hz * t) + 0.4 * Math.sin(4 * Math.PI * hz * t) + 0.15 * Math.sin(6 * Math.PI * hz * t);
      out[cursor + i] = 0.25 * envelope * tone;
    }
    cursor += length + Math.round(gap * rate);
  }
  for (let i = 0; i < out.length; i++) out[i] += noise();
  return out;
}

describe('note detection on a synthetic hum', () => {
  it('finds the sung MIDI pitches, in order, with their onsets', async () => {
    const melody = [
      { midi: 57, seconds: 0.5 },
      { midi: 60, seconds: 0.5 },
      { midi: 64, seconds: 0.5 },
      { midi: 62, seconds: 0.25 },
      { midi: 60, seconds: 0.25 },
      { midi: 57, seconds: 1.0 },
      { midi: 52, seconds: 0.5 },
    ];
    const rate = 44100;
    const dir = await mkdtemp(path.join(tmpdir(), 'mcm-hum-'));
    const file = path.join(dir, 'hum.wav');
    await writeFile(file, encodeWav16([hum(melody, rate)], rate));

    const analysis = await analyzeAudio(file);
    expect(analysis.notes.map((note) => note.midi)).toEqual(melody.map((note) => note.midi));
    let expectedOnset = 0.2;
    analysis.notes.forEach((note, index) => {
      expect(Math.abs(note.onset_s - expectedOnset)).toBeLessThan(0.06);
      expect(Math.abs(note.duration_s - melody[index].seconds)).toBeLessThan(0.12);
      expectedOnset += melody[index].seconds + 0.08;
    });
    expect(analysis.median_pitch_hz).toBeGreaterThan(200);
    expect(analysis.median_pitch_hz).toBeLessThan(300);
    expect(analysis.key).toMatch(/^(Am|C)$/);
    expect(analysis.tempo_source).toBe('onsets');
    expect(analysis.voiced_start_s).toBeCloseTo(0.2, 1);
  });

  it('refuses silence', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mcm-hum-'));
    const file = path.join(dir, 'silence.wav');
    await writeFile(file, encodeWav16([new Float32Array(44100 * 2)], 44100));
    await expect(analyzeAudio(file)).rejects.toMatchObject({ code: 'AUDIO_SILENT', retryable: false });
  });
});
