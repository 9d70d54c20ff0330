import { afterAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { blueprintDurationSeconds, type Blueprint } from '@mcm/pipeline';
import { closeAudioWorkers } from '../dsp.pool';
import { renderInstrumental } from './instrumental';
import { measureLoudness } from '../mix/loudness';
import { decodeWav16 } from '../io/wav';
import { scratchDirectories } from '../../../../test/support/scratch';

const scratch = scratchDirectories();

afterAll(() => closeAudioWorkers());

function blueprint(overrides: Partial<Blueprint> = {}): Blueprint {
  return {
    id: 'render-test',
    style: 'cinematic',
    tempo_bpm: 97,
    key: 'F#m',
    time_signature: '4/4',
    sections: [
      { name: 'intro', bars: 2, energy: 0.3 },
      { name: 'verse', bars: 4, energy: 0.55 },
      { name: 'chorus', bars: 5, energy: 0.9 },
      { name: 'outro', bars: 1, energy: 0.4 },
    ],
    lyrics: 'la',
    voice: { voice_id: 'local-voice' },
    melody: [
      { midi: 66, start_beat: 24, beats: 1 },
      { midi: 69, start_beat: 25, beats: 0.5 },
      { midi: 73, start_beat: 25.5, beats: 2.5, velocity: 1 },
    ],
    ...overrides,
  };
}

function rmsOf(samples: Float32Array, from: number, to: number): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += samples[i] * samples[i];
  return Math.sqrt(sum / (to - from));
}

describe('renderInstrumental', () => {
  it('writes 44.1 kHz stereo 16-bit audio exactly as long as the blueprint, louder in the chorus', async () => {
    const dir = await scratch('mcm-inst-');
    const out = path.join(dir, 'instrumental.wav');
    const score = blueprint();
    const result = await renderInstrumental(score, out);
    const frames = Math.round(blueprintDurationSeconds(score) * 44100);
    expect(result.duration_s).toBeCloseTo(frames / 44100, 9);

    const bytes = await readFile(out);
    expect(bytes.readUInt16LE(22)).toBe(2);
    expect(bytes.readUInt32LE(24)).toBe(44100);
    expect(bytes.readUInt16LE(34)).toBe(16);
    expect(bytes.readUInt32LE(40)).toBe(frames * 4);
    const wav = decodeWav16(bytes);
    expect(wav.channels[0].length).toBe(frames);

    const barFrames = Math.round((4 * 60 * 44100) / score.tempo_bpm);
    const intro = rmsOf(wav.channels[0], 0, 2 * barFrames);
    const chorus = rmsOf(wav.channels[0], 6 * barFrames, 11 * barFrames);
    expect(chorus).toBeGreaterThan(intro * 1.5);
    const loudness = await measureLoudness(out, 'wav');
    expect(loudness.integrated_lufs).toBeGreaterThan(-30);
    expect(loudness.true_peak_dbtp).toBeLessThan(0);
  });

  it('honours arrangement flags and renders every style preset deterministically', async () => {
    const dir = await scratch('mcm-inst-');
    const silentDrums = blueprint({ sections: [{ name: 'only pads', bars: 2, energy: 0.9 }], arrangement: [{ drums: false, bass: false, pads: false, lead: false }], melody: [] });
    await renderInstrumental(silentDrums, path.join(dir, 'silent.wav'));
    const silent = decodeWav16(await readFile(path.join(dir, 'silent.wav')));
    expect(rmsOf(silent.channels[0], 0, silent.channels[0].length)).toBe(0);

    const renders: Buffer[] = [];
    for (const style of ['cinematic', 'anthem', 'lofi', 'synthwave', 'cinematic']) {
      const file = path.join(dir, `${renders.length}.wav`);
      const { duration_s } = await renderInstrumental(blueprint({ style, sections: [{ name: 'chorus', bars: 2, energy: 0.9 }] }), file);
      expect(duration_s).toBeCloseTo((8 * 60) / 97, 4);
      renders.push(await readFile(file));
    }
    expect(renders[0].equals(renders[4])).toBe(true);
    expect(renders[0].equals(renders[1])).toBe(false);
    expect(renders[2].equals(renders[3])).toBe(false);
  });

  it('renders odd time signatures and chord lists to the exact length', async () => {
    const dir = await scratch('mcm-inst-');
    const score = blueprint({ time_signature: '6/8', tempo_bpm: 131, chords: ['Am', 'Fmaj7', 'C', 'Gsus4', 'E7'], melody: undefined });
    const { duration_s } = await renderInstrumental(score, path.join(dir, 'odd.wav'));
    const frames = Math.round(blueprintDurationSeconds(score) * 44100);
    expect(Math.round(duration_s * 44100)).toBe(frames);
    expect(decodeWav16(await readFile(path.join(dir, 'odd.wav'))).channels[1].length).toBe(frames);
  });
});
