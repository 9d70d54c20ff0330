import { describe, expect, it } from 'vitest';
import { decodeWav16, encodeWav16 } from './wav';

describe('encodeWav16', () => {
  it('writes the canonical header and the channels interleaved, rounded, clamped, with NaN as silence', () => {
    const left = Float32Array.from([0, 0.5, -0.5, 1.5, Number.NaN]);
    const right = Float32Array.from([1, -1, 0.25, -2, 0.6 / 32767]);
    const wav = encodeWav16([left, right], 22_050);
    expect(wav.toString('ascii', 0, 4)).toBe('RIFF');
    expect(wav.readUInt32LE(4)).toBe(36 + 20);
    expect(wav.toString('ascii', 8, 16)).toBe('WAVEfmt ');
    expect([wav.readUInt16LE(20), wav.readUInt16LE(22), wav.readUInt32LE(24), wav.readUInt32LE(28), wav.readUInt16LE(32), wav.readUInt16LE(34)]).toEqual([1, 2, 22_050, 88_200, 4, 16]);
    expect(wav.toString('ascii', 36, 40)).toBe('data');
    expect(wav.readUInt32LE(40)).toBe(20);
    const samples = Array.from({ length: 10 }, (_, i) => wav.readInt16LE(44 + 2 * i));
    // 0.5 × 32767 = 16383.5 rounds up, −16383.5 rounds towards +∞; beyond ±1 is held at ±32767.
    expect(samples).toEqual([0, 32767, 16384, -32767, -16383, 8192, 32767, -32767, 0, 1]);
  });

  it('reads back what it wrote: each sample as its 16-bit step over 32768', () => {
    const left = Float32Array.from({ length: 4410 }, (_, i) => 0.8 * Math.sin(i / 5));
    const right = Float32Array.from(left, (value) => -value / 2);
    const { sampleRate, channels } = decodeWav16(encodeWav16([left, right], 44_100));
    expect(sampleRate).toBe(44_100);
    expect(channels).toHaveLength(2);
    channels.forEach((channel, c) => expect(Array.from(channel)).toEqual(Array.from([left, right][c], (value) => Math.fround(Math.round(value * 32767) / 32768) + 0)));
  });
});
