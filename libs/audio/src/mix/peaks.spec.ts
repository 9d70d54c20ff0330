import { describe, expect, it } from 'vitest';
import { waveformPeaks } from './peaks';

describe('waveformPeaks', () => {
  it('gives one min/max pair per block of the mix-down, in 8 bits', () => {
    // Three blocks of 4 frames: silence, a full-scale square, a quiet positive run (the last block is short).
    const frames = [0, 0, 0, 0, 32767, -32768, 32767, -32768, 8192, 8192];
    const pcm = new Int16Array(frames.flatMap((value) => [value, value]));
    const peaks = waveformPeaks(pcm, 2, 44100, 4);
    expect(peaks).toMatchObject({ version: 2, channels: 1, sample_rate: 44100, samples_per_pixel: 4, bits: 8, length: 3 });
    expect(peaks.data).toEqual([0, 0, -128, 127, 0, 32]);
  });

  it('averages the channels so opposite channels cancel', () => {
    const pcm = new Int16Array([16384, -16384, 16384, -16384]);
    expect(waveformPeaks(pcm, 2, 8000, 2).data).toEqual([0, 0]);
  });
});
