import { afterAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { analyzeAudio } from './analysis';
import { closeAudioWorkers } from '../dsp.pool';
import { noteFMeasure } from '../../../../test/support/melody-score';
import { encodeWav16 } from '../io/wav';
import { YIN } from 'pitchfinder';
import { yinDetector } from './pitch';
import { scratchDirectories } from '../../../../test/support/scratch';

const scratch = scratchDirectories();

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
    const dir = await scratch('mcm-hum-');
    const file = path.join(dir, 'hum.wav');
    await writeFile(file, encodeWav16([hum(melody, rate)], rate));

    const analysis = await analyzeAudio(file, 'wav');
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
    const dir = await scratch('mcm-hum-');
    const file = path.join(dir, 'silence.wav');
    await writeFile(file, encodeWav16([new Float32Array(44100 * 2)], 44100));
    await expect(analyzeAudio(file, 'wav')).rejects.toMatchObject({ code: 'AUDIO_SILENT', retryable: false });
  });
});

interface HumNote {
  midi: number;
  onset_s: number;
  duration_s: number;
}

/**
 * A hum the way people hum: a voice-like harmonic tone (falling harmonics), 5.5 Hz vibrato of ±35 cents,
 * a scoop into each note, note levels that wander by 10 dB, breath noise 30 dB under the voice, and an overall level.
 */
function humanHum(notes: HumNote[], rate: number, seed: number, level: number): Float32Array {
  const total = Math.max(...notes.map((note) => note.onset_s + note.duration_s)) + 0.5;
  const out = new Float32Array(Math.round(total * rate));
  let state = seed;
  const random = () => (state = (state * 16807) % 2147483647) / 2147483647;
  for (const note of notes) {
    const gain = 10 ** ((-10 * random()) / 20);
    const start = Math.round(note.onset_s * rate);
    const length = Math.round(note.duration_s * rate);
    const vibratoPhase = random() * 2 * Math.PI;
    let phase = 0;
    for (let i = 0; i < length && start + i < out.length; i++) {
      const t = i / rate;
      const scoop = -0.4 * Math.exp(-t / 0.03);
      const cents = 35 * Math.sin(2 * Math.PI * 5.5 * t + vibratoPhase);
      const hz = 440 * 2 ** ((note.midi + scoop + cents / 100 - 69) / 12);
      phase += (2 * Math.PI * hz) / rate;
      const envelope = Math.min(1, i / (0.025 * rate), (length - i) / (0.04 * rate));
      const tone = Math.sin(phase) + 0.5 * Math.sin(2 * phase) + 0.3 * Math.sin(3 * phase) + 0.12 * Math.sin(4 * phase);
      out[start + i] += level * gain * envelope * tone * 0.5;
    }
  }
  for (let i = 0; i < out.length; i++) out[i] += level * 0.5 * 10 ** (-30 / 20) * (random() * 2 - 1);
  return out;
}

/** A melody on a tempo's grid: durations in beats, a short breath between notes, repeated pitches re-sung. */
function melodyAt(bpm: number, steps: [number, number][], startS = 0.4): HumNote[] {
  const beat = 60 / bpm;
  let at = startS;
  return steps.map(([midi, beats]) => {
    const note = { midi, onset_s: at, duration_s: beats * beat - 0.06 };
    at += beats * beat;
    return note;
  });
}

describe('melody transcription on synthetic hums', () => {
  const cases: { label: string; bpm: number; level: number; steps: [number, number][] }[] = [
    {
      label: 'a slow tune at 80 BPM, quiet phone level',
      bpm: 80,
      level: 0.02,
      steps: [
        [55, 1],
        [57, 1],
        [59, 2],
        [60, 1],
        [59, 0.5],
        [57, 0.5],
        [55, 2],
        [52, 1],
        [55, 1],
        [57, 2],
      ],
    },
    {
      label: 'a bouncy tune at 112 BPM',
      bpm: 112,
      level: 0.3,
      steps: [
        [60, 0.5],
        [62, 0.5],
        [64, 1],
        [64, 0.5],
        [67, 0.5],
        [69, 1],
        [67, 1],
        [64, 0.5],
        [62, 0.5],
        [60, 2],
        [57, 1],
        [60, 1],
      ],
    },
    {
      label: 'a fast low tune at 140 BPM',
      bpm: 140,
      level: 0.15,
      steps: [
        [48, 1],
        [50, 0.5],
        [52, 0.5],
        [53, 1],
        [55, 1],
        [53, 0.5],
        [52, 0.5],
        [50, 1],
        [48, 2],
        [43, 1],
        [48, 1],
        [52, 1],
        [55, 2],
      ],
    },
    {
      label: 'a high tune with leaps at 96 BPM',
      bpm: 96,
      level: 0.1,
      steps: [
        [67, 1],
        [72, 1],
        [71, 0.5],
        [69, 0.5],
        [67, 1],
        [64, 2],
        [65, 1],
        [69, 1],
        [72, 2],
        [74, 1],
        [72, 1],
      ],
    },
  ];
  for (const { label, bpm, level, steps } of cases) {
    it(`${label}: note F-measure ≥ 0.8 (onset ±50 ms, pitch ±50 cents)`, async () => {
      const reference = melodyAt(bpm, steps);
      const rate = 44_100;
      const dir = await scratch('mcm-hum-');
      const file = path.join(dir, 'hum.wav');
      await writeFile(file, encodeWav16([humanHum(reference, rate, bpm, level)], rate));
      const analysis = await analyzeAudio(file, 'wav');
      const score = noteFMeasure(reference, analysis.notes);
      expect(score.f_measure, JSON.stringify({ score, notes: analysis.notes.map((note) => [note.midi, note.onset_s]) })).toBeGreaterThanOrEqual(0.8);
      expect(Math.abs(analysis.tempo_bpm - bpm) <= 3 || Math.abs(analysis.tempo_bpm - 2 * bpm) <= 3 || Math.abs(2 * analysis.tempo_bpm - bpm) <= 3, `tempo ${analysis.tempo_bpm}`).toBe(true);
    });
  }

  it('scores like mir_eval: one match per note, tolerances inclusive', () => {
    const reference = [
      { midi: 60, onset_s: 1 },
      { midi: 62, onset_s: 1.5 },
    ];
    expect(
      noteFMeasure(reference, [
        { midi: 60.5, onset_s: 1.05 },
        { midi: 60, onset_s: 1.01 },
      ]),
    ).toMatchObject({ matched: 1, precision: 0.5, recall: 0.5 });
    expect(noteFMeasure(reference, [{ midi: 62, onset_s: 1.56 }]).matched).toBe(0);
    expect(noteFMeasure(reference, reference).f_measure).toBe(1);
  });
});

describe('the bounded YIN detector', () => {
  // Frames as the pitch track gives them: hums from 50 to 1100 Hz (some under the 65 Hz floor), breathy noise
  // and silence, at the analysis' and the tuning's frame sizes and at 8 and 16 kHz.
  const frames = (rate: number, size: number): Float32Array[] => {
    let seed = 11;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const out: Float32Array[] = [];
    for (let n = 0; n < 600; n++) {
      const frame = new Float32Array(size);
      // A third near the floor, where the bound on the lags decides.
      const hz = n % 3 === 0 ? 62 + 6 * random() : 50 * 22 ** random();
      const noise = n % 4 === 0 ? 0.3 : n % 4 === 1 ? 0.03 : 0.003;
      const phase = random() * 2 * Math.PI;
      for (let i = 0; i < size; i++) {
        const w = (2 * Math.PI * hz * i) / rate + phase;
        frame[i] = n % 24 === 23 ? 0 : 0.1 * (Math.sin(w) + 0.5 * Math.sin(2 * w) + 0.2 * Math.sin(3 * w)) + noise * (random() - 0.5);
      }
      out.push(frame);
    }
    return out;
  };

  for (const [rate, size] of [
    [8000, 1024],
    [8000, 512],
    [16000, 2048],
  ]) {
    it(`gives pitchfinder's result wherever it is at least minHz (${rate} Hz, ${size}-sample frames)`, () => {
      const reference = YIN({ sampleRate: rate, threshold: 0.15 });
      const bounded = yinDetector({ sampleRate: rate, threshold: 0.15, frameSize: size, minHz: 65 });
      let pitched = 0;
      for (const frame of frames(rate, size)) {
        const expected = reference(frame);
        const got = bounded(frame);
        expect(got).toBe(expected !== null && expected >= 65 ? expected : null);
        if (got !== null) pitched++;
      }
      // Most frames carry a pitch above the floor: the comparison is not between two nulls.
      expect(pitched).toBeGreaterThan(300);
    });
  }
});
