import FFT from 'fft.js';
import { ffmpegInput, runFfmpeg } from '../io/ffmpeg';
import { parseEbur128 } from './loudness';

/** How a mix spreads its energy over the spectrum: the figures the mix targets are stated in. */
export interface SpectralBalance {
  /** Share of the power below 160 Hz (target ≤ 0.45). */
  low_share: number;
  /** Share of the power above 2 kHz (target ≥ 0.03). */
  high_share: number;
  /** Slope of power per Hz from 125 Hz to 8 kHz, dB per octave (pink noise −3; target −3…−5.5). */
  slope_db_per_octave: number;
}

const WINDOW = 4096;
const LOW_EDGE_HZ = 160;
const HIGH_EDGE_HZ = 2000;
// Third-octave band centres over which the slope is fitted, so every octave weighs the same however many bins it holds.
const SLOPE_FROM_HZ = 125;
const SLOPE_TO_HZ = 8000;

/** Long-term power spectrum (Welch: Hann windows, half overlap), power per bin from 0 Hz to Nyquist. */
export function powerSpectrum(samples: Float32Array, size = WINDOW): Float64Array {
  const fft = new FFT(size);
  const window = Float64Array.from({ length: size }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / size));
  const frame = new Array<number>(size).fill(0);
  const out = fft.createComplexArray() as number[];
  const power = new Float64Array(size / 2 + 1);
  for (let start = 0; start + size <= samples.length; start += size / 2) {
    for (let i = 0; i < size; i++) frame[i] = samples[start + i] * window[i];
    fft.realTransform(out, frame);
    for (let k = 0; k <= size / 2; k++) power[k] += out[2 * k] ** 2 + out[2 * k + 1] ** 2;
  }
  return power;
}

/** Low and high shares and the spectral slope of a mono signal. */
export function spectralBalance(samples: Float32Array, sampleRate: number): SpectralBalance {
  const power = powerSpectrum(samples);
  const binHz = sampleRate / WINDOW;
  let total = 0;
  let low = 0;
  let high = 0;
  // DC and the first bin hold no music; they would only measure offsets.
  for (let k = 2; k < power.length; k++) {
    const hz = k * binHz;
    total += power[k];
    if (hz < LOW_EDGE_HZ) low += power[k];
    if (hz >= HIGH_EDGE_HZ) high += power[k];
  }
  const points: [number, number][] = [];
  for (let octave = 0; SLOPE_FROM_HZ * 2 ** octave <= SLOPE_TO_HZ * 1.001; octave += 1 / 3) {
    const centre = SLOPE_FROM_HZ * 2 ** octave;
    const from = Math.max(1, Math.ceil((centre * 2 ** (-1 / 6)) / binHz));
    const to = Math.min(power.length - 1, Math.floor((centre * 2 ** (1 / 6)) / binHz));
    let sum = 0;
    for (let k = from; k <= to; k++) sum += power[k];
    if (to >= from && sum > 0) points.push([octave, 10 * Math.log10(sum / (to - from + 1))]);
  }
  return {
    low_share: total > 0 ? low / total : 0,
    high_share: total > 0 ? high / total : 0,
    slope_db_per_octave: leastSquaresSlope(points),
  };
}

function leastSquaresSlope(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return 0;
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - meanX) * (y - meanY);
    den += (x - meanX) ** 2;
  }
  return num / den;
}

/** Integrated loudness (LUFS) of each span of a file, in seconds, as ffmpeg's EBU R128 meter reads it. */
export async function spanLoudness(file: string, format: string, spans: { from_s: number; to_s: number }[]): Promise<number[]> {
  return Promise.all(
    spans.map(async ({ from_s, to_s }) => {
      const { stderr } = await runFfmpeg(['-nostats', ...ffmpegInput(file, format), '-map', '0:a:0', '-af', `atrim=start=${from_s.toFixed(4)}:end=${to_s.toFixed(4)},ebur128`, '-f', 'null', '-']);
      return parseEbur128(stderr).integrated_lufs;
    }),
  );
}
