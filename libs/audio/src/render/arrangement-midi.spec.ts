import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BasicMIDI, SpessaSynthProcessor, SpessaSynthSequencer } from 'spessasynth_core';
import type { Analysis, Blueprint } from '@mcm/pipeline';
import { composeBlueprint } from '../score/compose';
import { closeAudioWorkers } from '../dsp.pool';
import { renderInstrumental } from './instrumental';
import { writeArrangementMidi } from '../io/midi';
import { powerSpectrum } from '../mix/balance';
import { monoOf } from '../analysis/spectrum';
import { onsetEnvelope } from '../analysis/tempo';
import { decodeWav16 } from '../io/wav';
import { testSoundBank } from '../../../../test/support/render';

const RATE = 44_100;

const analysis: Analysis = {
  duration_s: 5,
  sample_rate: 44100,
  channels: 1,
  loudness_lufs: -20,
  peak_dbfs: -6,
  voiced_start_s: 0.4,
  voiced_end_s: 4.5,
  median_pitch_hz: 200,
  notes: [55, 57, 60, 62, 60, 57, 55, 52].map((midi, i) => ({ midi, onset_s: 0.4 + i * 0.5, duration_s: 0.45 })),
  tempo_bpm: 120,
  tempo_source: 'onsets',
  key: 'C',
  key_confidence: 0.8,
  energy: 0.6,
};

/** The .mid as any General MIDI player would render it: spessasynth's own sequencer reading the file, nothing of the engine. */
async function renderMidiFile(file: string, frames: number): Promise<Float32Array> {
  const bytes = await readFile(file);
  const midi = BasicMIDI.fromArrayBuffer(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const synth = new SpessaSynthProcessor(RATE, { effectsEnabled: false });
  synth.soundBankManager.addSoundBank(await testSoundBank(), 'main');
  await synth.processorInitialized;
  const sequencer = new SpessaSynthSequencer(synth);
  // From tick 0, not from the first note: the intro's silence is part of the song.
  sequencer.skipToFirstNoteOn = false;
  sequencer.loadNewSongList([midi]);
  sequencer.play();
  const left = new Float32Array(frames);
  const right = new Float32Array(frames);
  for (let frame = 0; frame < frames; frame += 128) {
    sequencer.processTick();
    synth.process(left, right, frame, Math.min(128, frames - frame));
  }
  return monoOf([left, right]);
}

/** Onset times (s): peaks of the onset envelope above a share of its largest. */
function onsets(samples: Float32Array, share: number): number[] {
  const { strength, hopSeconds } = onsetEnvelope(samples, RATE);
  const threshold = share * Math.max(...strength);
  const found: number[] = [];
  for (let f = 1; f + 1 < strength.length; f++) if (strength[f] >= threshold && strength[f] >= strength[f - 1] && strength[f] > strength[f + 1]) found.push(f * hopSeconds);
  return found;
}

// Third-octave bands from 63 Hz to 2 kHz: a bar's spectral fingerprint of what plays in it, below the styles' tape low-pass and vinyl.
const BANDS = Array.from({ length: 16 }, (_, i) => 63 * 2 ** (i / 3));

/** Band levels (dB) of a stretch of audio, less their mean: the shape of the spectrum, not its loudness. */
function fingerprint(samples: Float32Array): number[] {
  const power = powerSpectrum(samples, 2048);
  const binHz = RATE / 2048;
  const levels = BANDS.map((centre) => {
    let sum = 1e-12;
    for (let k = Math.ceil((centre * 2 ** (-1 / 6)) / binHz); k <= Math.floor((centre * 2 ** (1 / 6)) / binHz); k++) sum += power[k] ?? 0;
    return 10 * Math.log10(sum);
  });
  const mean = levels.reduce((total, level) => total + level, 0) / levels.length;
  return levels.map((level) => level - mean);
}

const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
// A bar's spectral shape may differ by this much (mean dB over the bands), and the bands must follow each other this closely over the bars.
const DISTANCE_DB = 2.2;
const FOLLOWING = 0.85;

function correlation(a: number[], b: number[]): number {
  const ma = mean(a);
  const mb = mean(b);
  let num = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - ma) * (b[i] - mb);
    va += (a[i] - ma) ** 2;
    vb += (b[i] - mb) ** 2;
  }
  return num / Math.sqrt(va * vb);
}

/**
 * Bar by bar, how far apart the two renders' spectral shapes are (mean absolute dB), and band by
 * band, how closely their levels rise and fall over the bars: an instrument that enters, leaves or
 * is swapped for another changes both.
 */
function compareBars(stem: Float32Array, reference: Float32Array, blueprint: Blueprint) {
  const barFrames = Math.round(((4 * 60) / blueprint.tempo_bpm) * RATE);
  const bars = Math.floor(Math.min(stem.length, reference.length) / barFrames);
  const shapes = (samples: Float32Array) => Array.from({ length: bars }, (_, bar) => fingerprint(samples.subarray(bar * barFrames, (bar + 1) * barFrames)));
  const a = shapes(stem);
  const b = shapes(reference);
  const barDistance = a.map((shape, bar) => shape.reduce((sum, level, band) => sum + Math.abs(level - b[bar][band]), 0) / shape.length);
  const bandFollowing = BANDS.map((_, band) =>
    correlation(
      a.map((shape) => shape[band]),
      b.map((shape) => shape[band]),
    ),
  );
  return { barDistance, bandFollowing };
}

describe('arrangement.mid against the instrumental stem', () => {
  const dir = { path: '' };
  const renders: Record<string, { blueprint: Blueprint; stem: Float32Array; fromMidi: Float32Array }> = {};

  beforeAll(async () => {
    dir.path = await mkdtemp(path.join(tmpdir(), 'mcm-midi-stem-'));
    for (const style of ['anthem', 'lofi']) {
      const blueprint = composeBlueprint(analysis, { momentId: `midi-stem-${style}`, style, outputKind: 'preview' });
      const stemFile = path.join(dir.path, `${style}.wav`);
      const midiFile = path.join(dir.path, `${style}.mid`);
      await Promise.all([renderInstrumental(blueprint, stemFile), writeArrangementMidi(blueprint, midiFile)]);
      const stem = monoOf(decodeWav16(await readFile(stemFile)).channels);
      renders[style] = { blueprint, stem, fromMidi: await renderMidiFile(midiFile, stem.length) };
    }
  }, 120_000);

  afterAll(async () => {
    await closeAudioWorkers();
    await rm(dir.path, { recursive: true, force: true });
  });

  for (const style of ['anthem', 'lofi']) {
    it(`${style}: the file rendered on its own strikes where the stem strikes, within 20 ms`, () => {
      const { stem, fromMidi } = renders[style];
      const heard = onsets(stem, 0.1);
      const written = onsets(fromMidi, 0.25);
      expect(written.length).toBeGreaterThan(20);
      const matched = written.filter((time) => heard.some((other) => Math.abs(other - time) <= 0.02));
      expect(matched.length / written.length).toBeGreaterThanOrEqual(0.9);
    });

    it(`${style}: the same instruments play in the same bars`, () => {
      const { blueprint, stem, fromMidi } = renders[style];
      const { barDistance, bandFollowing } = compareBars(stem, fromMidi, blueprint);
      // The stem's own chain (reverb, the section tone, lofi's tape) moves a bar's shape by under 2 dB; another arrangement, by more.
      barDistance.forEach((distance, bar) => expect(distance, `bar ${bar}`).toBeLessThanOrEqual(DISTANCE_DB));
      expect(mean(bandFollowing)).toBeGreaterThanOrEqual(FOLLOWING);
    });
  }

  it('tells different arrangements apart: another style’s file does not match the stem', () => {
    const { barDistance, bandFollowing } = compareBars(renders.anthem.stem, renders.lofi.fromMidi, renders.anthem.blueprint);
    expect(barDistance.filter((distance) => distance > DISTANCE_DB).length / barDistance.length).toBeGreaterThan(0.8);
    expect(mean(bandFollowing)).toBeLessThan(FOLLOWING);
  });
});
