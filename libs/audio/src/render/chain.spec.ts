import { describe, expect, it } from 'vitest';
import { seededRandom } from '../score/random';
import { addReverb, finishStem, halfRate } from './chain';
import * as reference from '../../../../test/support/reference-chain';

const RATE = 44_100;

/** Two seconds of a stereo band: tones, noise and a few hits standing far above them, so the limiter has work. */
function band(frames = 2 * RATE + 1): [Float32Array, Float32Array] {
  const random = seededRandom('chain-band');
  const left = new Float32Array(frames);
  const right = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    const t = i / RATE;
    const tone = 0.2 * Math.sin(2 * Math.PI * 220 * t) + 0.1 * Math.sin(2 * Math.PI * 3300 * t);
    const hit = i % 11_025 < 400 ? (random() * 2 - 1) * 1.5 : 0;
    left[i] = tone + 0.05 * (random() * 2 - 1) + hit;
    right[i] = 0.8 * tone + 0.05 * (random() * 2 - 1) - hit;
  }
  return [left, right];
}

const copy = ([left, right]: [Float32Array, Float32Array]): [Float32Array, Float32Array] => [Float32Array.from(left), Float32Array.from(right)];

function largestDifference(a: Float32Array[], b: Float32Array[]): number {
  let largest = 0;
  for (let c = 0; c < a.length; c++) for (let i = 0; i < a[c].length; i++) largest = Math.max(largest, Math.abs(a[c][i] - b[c][i]));
  return largest;
}

describe('the fused render chain', () => {
  it('returns the reverb the one-comb-at-a-time reverb returns, from the send at half the rate', () => {
    for (const frames of [RATE, RATE + 1]) {
      const send = band(frames)[0];
      const fused = copy(band(frames));
      const each = copy(band(frames));
      addReverb(halfRate(send), fused[0], fused[1], RATE, 2.2, 0.45);
      reference.addReverb(send, each[0], each[1], RATE, 2.2, 0.45);
      expect(largestDifference(fused, band(frames))).toBeGreaterThan(0.01);
      expect(largestDifference(fused, each)).toBeLessThan(1e-5);
    }
  });

  it('finishes a stem as the chain of separate effects does: section tone, air, low-pass, vinyl, limiter, saturation', () => {
    const sections = [
      { from: 0, energy: 0.3 },
      { from: RATE / 2, energy: 0.6 },
      { from: RATE, energy: 0.9 },
    ];
    const styles = [{ air: 2.5 }, { lowpassHz: 6000, vinyl: 0.01 }, {}];
    for (const style of styles) {
      const fused = copy(band());
      finishStem(fused[0], fused[1], RATE, {
        sections,
        air: style.air,
        lowpassHz: style.lowpassHz,
        vinyl: style.vinyl ? { level: style.vinyl, random: seededRandom('vinyl') } : undefined,
        reductionDb: 4,
      });

      const each = copy(band());
      reference.sectionTone(each, RATE, sections);
      if (style.air) reference.equalise(each, [reference.filters.highShelf(5000, style.air, RATE)]);
      if (style.lowpassHz) reference.equalise(each, [reference.filters.lowpass(style.lowpassHz, RATE)]);
      if (style.vinyl) reference.addVinyl(each[0], each[1], RATE, style.vinyl, seededRandom('vinyl'));
      reference.limitPeaks(each[0], each[1], RATE, 4);
      reference.finish(each[0], each[1]);

      expect(largestDifference(fused, [new Float32Array(fused[0].length), new Float32Array(fused[1].length)])).toBeCloseTo(0.708, 5);
      expect(largestDifference(fused, band())).toBeGreaterThan(0.1);
      expect(largestDifference(fused, each)).toBeLessThan(1e-5);
    }
  });
});
