import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeWav16, encodeWav16 } from '../io/wav';
import { spanLoudness } from './balance';
import { integratedLoudness, measureLoudness } from './loudness';

const fixtures = path.resolve(__dirname, '../../../../test/fixtures');

describe('integratedLoudness', () => {
  it('reads a recording as ffmpeg’s EBU R128 meter does, whole and over a span', async () => {
    const file = path.join(fixtures, 'voice-clean.wav');
    const { channels, sampleRate } = decodeWav16(await readFile(file));
    const whole = await measureLoudness(file, 'wav');
    const [span] = await spanLoudness(file, 'wav', [{ from_s: 1, to_s: 4.5 }]);
    // ffmpeg prints one decimal.
    expect(Math.abs(integratedLoudness(channels, sampleRate) - whole.integrated_lufs)).toBeLessThanOrEqual(0.1);
    expect(Math.abs(integratedLoudness(channels, sampleRate, 1 * sampleRate, 4.5 * sampleRate) - span)).toBeLessThanOrEqual(0.1);
  });

  it('weights a 1 kHz tone at 44.1 kHz as BS.1770 states, gates silence out, and reads silence as −70 LUFS', () => {
    const rate = 44_100;
    const sine = (seconds: number) => Float32Array.from({ length: rate * seconds }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 1000 * i) / rate));
    const tone = sine(3);
    // A full-scale 1 kHz sine in one channel reads −3.01 LUFS; at half scale −9.03, in both channels −6.02.
    expect(integratedLoudness([tone, tone], rate)).toBeCloseTo(-6.02, 1);
    expect(integratedLoudness([tone], rate)).toBeCloseTo(-9.03, 1);
    // The same frames interleaved read the same, whole and over a span.
    const quiet = tone.map((value) => value / 4);
    const interleaved = Float32Array.from({ length: tone.length * 2 }, (_, i) => (i % 2 ? quiet : tone)[i >> 1]);
    expect(integratedLoudness({ interleaved, channelCount: 2 }, rate)).toBe(integratedLoudness([tone, quiet], rate));
    expect(integratedLoudness({ interleaved, channelCount: 2 }, rate, rate / 2, rate * 2)).toBe(integratedLoudness([tone, quiet], rate, rate / 2, rate * 2));
    // Ten seconds of silence after the tone fall under the gates; only the blocks across the edge pull it down.
    const thenSilence = new Float32Array(rate * 13);
    thenSilence.set(tone);
    expect(integratedLoudness([thenSilence], rate)).toBeGreaterThan(-9.6);
    expect(integratedLoudness([new Float32Array(rate * 2)], rate)).toBe(-70);
    // A span past the end of a short recording holds nothing: silence too.
    expect(integratedLoudness([tone], rate, rate * 5, rate * 8)).toBe(-70);
  });

  it('agrees with ffmpeg on a stereo stem written as the pipeline writes it', async () => {
    const rate = 44_100;
    let seed = 3;
    const noise = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 30 - 1;
    };
    // Noise whose level rises, so the relative gate has blocks to drop.
    const left = Float32Array.from({ length: rate * 6 }, (_, i) => 0.3 * (i / (rate * 6)) ** 2 * noise());
    const right = Float32Array.from(left, (value, i) => 0.5 * value + 0.05 * Math.sin((2 * Math.PI * 220 * i) / rate));
    const wav = encodeWav16([left, right], rate);
    const dir = await mkdtemp(path.join(tmpdir(), 'mcm-loudness-'));
    const file = path.join(dir, 'stem.wav');
    await writeFile(file, wav);
    try {
      const decoded = decodeWav16(wav);
      expect(Math.abs(integratedLoudness(decoded.channels, rate) - (await measureLoudness(file, 'wav')).integrated_lufs)).toBeLessThanOrEqual(0.1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
