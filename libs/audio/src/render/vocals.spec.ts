import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Analysis, Blueprint } from '@mcm/pipeline';
import { closeAudioWorkers } from '../dsp.pool';
import { ffmpegInput, runFfmpeg } from '../io/ffmpeg';
import { parseKey } from '../analysis/harmony';
import { pitchContour } from '../analysis/pitch';
import { hookSections, nearestScaleTone, renderVocals, speechSection, vocalEntryBeat } from './vocals';
import { powerSpectrum } from '../mix/balance';
import { decodeWav16, encodeWav16 } from '../io/wav';

afterAll(async () => {
  await closeAudioWorkers();
});

const RATE = 44100;
// C major; every note is sung 35–45 cents off a scale tone, on both sides.
const SUNG = [
  { midi: 60.4, onset: 0.2 },
  { midi: 64 - 0.42, onset: 0.8 },
  { midi: 67.38, onset: 1.4 },
  { midi: 65 - 0.37, onset: 2.0 },
  { midi: 62.45, onset: 2.6 },
];
const NOTE_SECONDS = 0.5;

/** A hum: a fundamental with decaying harmonics and a soft attack, one note after another. */
function synthHum(): Float32Array {
  const out = new Float32Array(Math.round(3.4 * RATE));
  for (const note of SUNG) {
    const hz = 440 * 2 ** ((note.midi - 69) / 12);
    const from = Math.round(note.onset * RATE);
    const length = Math.round(NOTE_SECONDS * RATE);
    for (let i = 0; i < length; i++) {
      const envelope = Math.min(1, i / 400, (length - i) / 400);
      let value = 0;
      for (let h = 1; h <= 4; h++) value += Math.sin((2 * Math.PI * hz * h * i) / RATE) / h;
      out[from + i] = 0.2 * envelope * value;
    }
  }
  return out;
}

const blueprint: Blueprint = {
  id: 'vocals-test',
  style: 'anthem',
  tempo_bpm: 120,
  key: 'C',
  time_signature: '4/4',
  sections: [
    { name: 'intro', bars: 1, energy: 0.3 },
    { name: 'verse', bars: 2, energy: 0.5 },
    { name: 'chorus', bars: 2, energy: 0.9 },
    { name: 'bridge', bars: 1, energy: 0.5 },
    { name: 'chorus', bars: 2, energy: 0.9 },
  ],
  lyrics: 'This is my moment',
  voice: { voice_id: 'local-voice' },
};

const analysis: Analysis = {
  duration_s: 3.4,
  sample_rate: RATE,
  channels: 1,
  loudness_lufs: -20,
  peak_dbfs: -8,
  voiced_start_s: 0.2,
  voiced_end_s: 3.1,
  median_pitch_hz: 330,
  notes: SUNG.map((note) => ({ midi: Math.round(note.midi), onset_s: note.onset, duration_s: NOTE_SECONDS })),
  tempo_bpm: 120,
  tempo_source: 'onsets',
  key: 'C',
  key_confidence: 0.8,
  energy: 0.5,
};

/** Median fractional MIDI pitch over the middle of each stable pitched run in a mono 8 kHz signal. */
function sungPitches(pcm: Float32Array, sampleRate: number): number[] {
  const contour = pitchContour(pcm, { sampleRate });
  const runs: number[][] = [];
  let current: number[] = [];
  for (const value of contour.midi) {
    if (Number.isNaN(value) || (current.length && Math.abs(value - current[current.length - 1]) > 0.5)) {
      if (current.length >= 15) runs.push(current);
      current = Number.isNaN(value) ? [] : [value];
    } else current.push(value);
  }
  if (current.length >= 15) runs.push(current);
  return runs.map((run) => {
    const middle = run.slice(Math.floor(run.length * 0.25), Math.ceil(run.length * 0.75)).sort((a, b) => a - b);
    return middle[middle.length >> 1];
  });
}

describe('vocal placement', () => {
  it('sings over the sections the arrangement or the names mark as hooks', () => {
    expect(hookSections(blueprint).map((hook) => hook.startBeat)).toEqual([12, 24]);
    expect(vocalEntryBeat(blueprint)).toBe(12);
    expect(speechSection(blueprint).startBeat).toBe(4);
    const unnamed = { ...blueprint, sections: blueprint.sections.map((section, index) => ({ ...section, name: `part ${index}` })) };
    expect(hookSections(unnamed).map((hook) => hook.startBeat)).toEqual([12, 24]);
    const arranged = { ...blueprint, arrangement: [{}, { vocals: true }, {}, {}, {}] };
    expect(hookSections(arranged).map((hook) => hook.startBeat)).toEqual([4]);
  });

  it('finds the nearest scale tone of a fractional pitch', () => {
    const c = parseKey('C');
    expect(nearestScaleTone(60.4, c)).toBe(60);
    expect(nearestScaleTone(63.58, c)).toBe(64);
    expect(nearestScaleTone(61.6, c)).toBe(62);
    expect(nearestScaleTone(66.4, parseKey('G'))).toBe(66);
  });
});

describe('renderVocals', () => {
  it('moves every sung note to within 30 cents of the scale and repeats the take at each hook', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mcm-vocals-'));
    try {
      const hum = path.join(dir, 'hum.wav');
      await writeFile(hum, encodeWav16([synthHum()], RATE));
      const out = path.join(dir, 'vocals.wav');
      const report = await renderVocals(hum, blueprint, analysis, out, { format: 'wav' });
      expect(report.duration_s).toBe(16);
      expect(report.hook_beats).toEqual([12, 24]);
      expect(report.corrections_cents.every((cents) => Math.abs(cents) >= 30 && Math.abs(cents) <= 50)).toBe(true);

      const stem = decodeWav16(await readFile(out));
      expect(stem.sampleRate).toBe(RATE);
      expect(stem.channels).toHaveLength(2);
      expect(stem.channels[0].length).toBe(16 * RATE);
      // Silent outside the hooks (beats 12–20 and 24–32 at 120 BPM: 6–10 s and 12–16 s).
      const level = (from: number, to: number) => stem.channels[0].subarray(Math.round(from * RATE), Math.round(to * RATE)).reduce((peak, value) => Math.max(peak, Math.abs(value)), 0);
      expect(level(0, 5.99)).toBe(0);
      expect(level(10.01, 11.99)).toBe(0);
      expect(level(6, 9)).toBeGreaterThan(0.05);
      expect(level(12, 15)).toBeGreaterThan(0.05);

      const before = sungPitches(await decodeMono(hum), 8000);
      const after = sungPitches(await decodeMono(out, 6, 9.9), 8000);
      const off = (pitches: number[]) => pitches.map((pitch) => Math.round(Math.abs(pitch - nearestScaleTone(pitch, parseKey('C'))) * 100));
      expect(before).toHaveLength(SUNG.length);
      expect(off(before).every((cents) => cents >= 30)).toBe(true);
      expect(after).toHaveLength(SUNG.length);
      process.stdout.write(`cents off the scale: sung ${off(before).join(', ')}; corrected ${off(after).join(', ')}\n`);
      expect(Math.max(...off(after))).toBeLessThanOrEqual(30);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// A phone take: two sung phrases with a breathy 12.5 kHz partial, over a constant hiss band (2–10 kHz) that starts before the voice.
const PHRASES = [
  { from: 0.6, midis: [64, 67, 65] },
  { from: 3.0, midis: [62, 64, 60] },
];
const PHRASE_NOTE_SECONDS = 0.45;

function phoneTake(): Float32Array {
  const out = new Float32Array(Math.round(5 * RATE));
  for (const phrase of PHRASES) {
    phrase.midis.forEach((midi, index) => {
      const hz = 440 * 2 ** ((midi - 69) / 12);
      const from = Math.round((phrase.from + index * PHRASE_NOTE_SECONDS) * RATE);
      const length = Math.round(PHRASE_NOTE_SECONDS * RATE);
      for (let i = 0; i < length; i++) {
        const envelope = Math.min(1, i / 400, (length - i) / 400);
        let value = Math.sin((2 * Math.PI * 12_500 * i) / RATE) * 0.1;
        for (let h = 1; h <= 4; h++) value += Math.sin((2 * Math.PI * hz * h * i) / RATE) / h;
        out[from + i] = 0.2 * envelope * value;
      }
    });
  }
  return out;
}

const phoneAnalysis: Analysis = {
  ...analysis,
  duration_s: 5,
  loudness_lufs: -24,
  voiced_start_s: 0.6,
  voiced_end_s: 4.35,
  notes: PHRASES.flatMap((phrase) => phrase.midis.map((midi, index) => ({ midi, onset_s: phrase.from + index * PHRASE_NOTE_SECONDS, duration_s: PHRASE_NOTE_SECONDS }))),
};

/** Writes the phone take (hiss band mixed in by ffmpeg) and renders its vocal stem; returns the stem's left channel. */
async function renderPhoneTake(dir: string): Promise<Float32Array> {
  const voice = path.join(dir, 'voice.wav');
  await writeFile(voice, encodeWav16([phoneTake()], RATE));
  const take = path.join(dir, 'take.wav');
  await runFfmpeg([
    ...ffmpegInput(voice, 'wav'),
    '-f', 'lavfi', '-i', `anoisesrc=color=white:amplitude=0.05:seed=7:sample_rate=${RATE}:duration=5`,
    '-filter_complex', '[1:a]highpass=f=2000,lowpass=f=10000[hiss];[0:a][hiss]amix=inputs=2,volume=2',
    '-c:a', 'pcm_s16le', '-y', take,
  ]);
  const out = path.join(dir, 'vocals.wav');
  await renderVocals(take, blueprint, phoneAnalysis, out, { format: 'wav' });
  return decodeWav16(await readFile(out)).channels[0];
}

describe('renderVocals on a phone take', () => {
  it('sends the voice to an echo that rings on after each phrase', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mcm-vocals-'));
    try {
      const stem = await renderPhoneTake(dir);
      // 10 ms RMS windows over the first phrase and the gap after it (placed at 6 s).
      const windowLength = Math.round(0.01 * RATE);
      const levels: number[] = [];
      for (let start = 6 * RATE; start + windowLength <= 8.4 * RATE; start += windowLength) {
        let sum = 0;
        for (let i = start; i < start + windowLength; i++) sum += stem[i] ** 2;
        levels.push(10 * Math.log10(sum / windowLength + 1e-12));
      }
      const voice = [...levels].sort((a, b) => a - b)[Math.floor(levels.length * 0.5)];
      const phraseEnd = levels.findLastIndex((level, index) => index < 200 && level > voice - 12);
      const tail = levels.slice(phraseEnd + 5, phraseEnd + 20);
      const tailDb = 10 * Math.log10(tail.reduce((sum, level) => sum + 10 ** (level / 10), 0) / tail.length);
      process.stdout.write(`vocal stem: voice ${voice.toFixed(1)} dB, 50–200 ms after the phrase ${tailDb.toFixed(1)} dB\n`);
      expect(tailDb).toBeGreaterThan(voice - 30);
      expect(tailDb).toBeLessThan(voice - 6);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });


  it('keeps the air above 11 kHz', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mcm-vocals-'));
    try {
      const stem = await renderPhoneTake(dir);
      const power = powerSpectrum(stem.subarray(6 * RATE, 10 * RATE));
      const binHz = RATE / 4096;
      let total = 0;
      let air = 0;
      power.forEach((value, bin) => {
        total += value;
        if (bin * binHz >= 11_000) air += value;
      });
      const airDb = 10 * Math.log10(air / total);
      process.stdout.write(`vocal stem energy above 11 kHz: ${airDb.toFixed(1)} dB of the total\n`);
      expect(airDb).toBeGreaterThan(-40);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps the floor between phrases at least 30 dB under the voice', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mcm-vocals-'));
    try {
      const stem = await renderPhoneTake(dir);
      // 50 ms RMS windows over the placed take (6 s on, 3.8 s long): a quarter of them fall between the phrases.
      const windowLength = Math.round(0.05 * RATE);
      const levels: number[] = [];
      for (let start = 6 * RATE; start + windowLength <= 9.8 * RATE; start += windowLength) {
        let sum = 0;
        for (let i = start; i < start + windowLength; i++) sum += stem[i] ** 2;
        levels.push(10 * Math.log10(sum / windowLength + 1e-12));
      }
      levels.sort((a, b) => a - b);
      const floor = levels[Math.floor(levels.length * 0.1)];
      const voice = levels[Math.floor(levels.length * 0.9)];
      process.stdout.write(`vocal stem: voice ${voice.toFixed(1)} dB, floor between phrases ${floor.toFixed(1)} dB\n`);
      expect(voice).toBeGreaterThan(-30);
      expect(voice - floor).toBeGreaterThanOrEqual(30);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

async function decodeMono(file: string, from = 0, to = 1e6): Promise<Float32Array> {
  const { stdout } = await runFfmpeg([...ffmpegInput(file, 'wav'), '-af', `atrim=start=${from}:end=${to},highpass=f=70,lowpass=f=1000`, '-ac', '1', '-ar', '8000', '-f', 'f32le', 'pipe:1'], { stdout: true });
  return new Float32Array(stdout.buffer.slice(stdout.byteOffset, stdout.byteOffset + (stdout.length - (stdout.length % 4))));
}
