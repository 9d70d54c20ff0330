import { ffmpegInput, runFfmpeg } from '../io/ffmpeg';

export interface LoudnessReport {
  integrated_lufs: number;
  true_peak_dbtp: number;
  lra: number;
}

/** EBU R128 integrated loudness, true peak and loudness range of a file (read as `format`), measured by ffmpeg's ebur128. */
export async function measureLoudness(file: string, format: string): Promise<LoudnessReport> {
  const { stderr } = await runFfmpeg(['-nostats', ...ffmpegInput(file, format), '-map', '0:a:0', '-af', 'ebur128=peak=true', '-f', 'null', '-']);
  return parseEbur128(stderr);
}

/** Reads the summary block ebur128 prints at the end; silence reports −70 LUFS and −inf peak. */
export function parseEbur128(stderr: string): LoudnessReport {
  const summary = stderr.slice(stderr.lastIndexOf('Summary:'));
  const integrated = /I:\s+(-?[\d.]+|-inf) LUFS/.exec(summary)?.[1];
  const lra = /LRA:\s+(-?[\d.]+) LU/.exec(summary)?.[1];
  const peak = /True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS/.exec(summary)?.[1];
  return {
    integrated_lufs: toNumber(integrated, -70),
    true_peak_dbtp: toNumber(peak, -120),
    lra: toNumber(lra, 0),
  };
}

function toNumber(text: string | undefined, floor: number): number {
  if (text === undefined || text === '-inf') return floor;
  const value = Number(text);
  return Number.isFinite(value) ? Math.max(value, floor) : floor;
}

/** One biquad's coefficients, normalised so a0 = 1. */
interface Biquad {
  b0: number;
  b1: number;
  b2: number;
  a1: number;
  a2: number;
}

/**
 * BS.1770's K-weighting at any sample rate: the head's high shelf (+4 dB above ~1.7 kHz) and the RLB
 * high-pass, both derived from their analogue prototypes as libebur128 does, so 44.1 kHz needs no resampling.
 */
function kWeighting(sampleRate: number): [Biquad, Biquad] {
  let k = Math.tan((Math.PI * 1681.974450955533) / sampleRate);
  let q = 0.7071752369554196;
  const vh = 10 ** (3.999843853973347 / 20);
  const vb = vh ** 0.4996667741545416;
  let a0 = 1 + k / q + k * k;
  const shelf = { b0: (vh + (vb * k) / q + k * k) / a0, b1: (2 * (k * k - vh)) / a0, b2: (vh - (vb * k) / q + k * k) / a0, a1: (2 * (k * k - 1)) / a0, a2: (1 - k / q + k * k) / a0 };
  k = Math.tan((Math.PI * 38.13547087602444) / sampleRate);
  q = 0.5003270373238773;
  a0 = 1 + k / q + k * k;
  const highpass = { b0: 1, b1: -2, b2: 1, a1: (2 * (k * k - 1)) / a0, a2: (1 - k / q + k * k) / a0 };
  return [shelf, highpass];
}

const BLOCK_SECONDS = 0.4;
const HOP_SECONDS = 0.1;
const ABSOLUTE_GATE_LUFS = -70;
const RELATIVE_GATE_LU = -10;

const lufs = (meanSquare: number) => -0.691 + 10 * Math.log10(meanSquare);

/**
 * Adds the K-weighted energy of each `hop` frames of one channel (its frame i at samples[first + i·stride]) to
 * `energy`. A function of its own, with the same argument types whatever the PCM's layout, so its loop stays
 * optimised from one call to the next.
 */
function addHopEnergies(samples: Float32Array, first: number, stride: number, hop: number, energy: Float64Array, shelf: Biquad, highpass: Biquad): void {
  let x1 = 0;
  let x2 = 0;
  let y1 = 0;
  let y2 = 0;
  let z1 = 0;
  let z2 = 0;
  for (let h = 0, j = first; h < energy.length; h++) {
    let sum = 0;
    for (let i = 0; i < hop; i++, j += stride) {
      const x = samples[j];
      const y = shelf.b0 * x + shelf.b1 * x1 + shelf.b2 * x2 - shelf.a1 * y1 - shelf.a2 * y2;
      const z = y - 2 * y1 + y2 - highpass.a1 * z1 - highpass.a2 * z2;
      x2 = x1;
      x1 = x;
      y2 = y1;
      y1 = y;
      z2 = z1;
      z1 = z;
      sum += z * z;
    }
    energy[h] += sum;
  }
}

/** PCM as one array per channel, or as one array of interleaved frames and its channel count. */
export type Pcm = Float32Array[] | { interleaved: Float32Array; channelCount: number };

/**
 * EBU R128 integrated loudness (BS.1770-4: K-weighting, 400 ms blocks every 100 ms, absolute and relative
 * gates) of frames `from`…`to` of the PCM, the front channels weighted 1, in process. Silence reads −70 LUFS,
 * as ffmpeg's meter reports it.
 */
export function integratedLoudness(pcm: Pcm, sampleRate: number, from = 0, to = Infinity): number {
  const planar = Array.isArray(pcm);
  const channelCount = planar ? pcm.length : pcm.channelCount;
  const frames = planar ? (pcm[0]?.length ?? 0) : Math.floor(pcm.interleaved.length / Math.max(1, pcm.channelCount));
  const start = Math.max(0, Math.floor(from));
  const end = Math.min(frames, Math.floor(to));
  const hop = Math.round(HOP_SECONDS * sampleRate);
  const hopsPerBlock = Math.round(BLOCK_SECONDS / HOP_SECONDS);
  // A span past the end (a stem shorter than the blueprint) holds no hop.
  const hops = Math.max(0, Math.floor((end - start) / hop));
  // The K-weighted energy of each 100 ms hop, summed over the channels; a block is four hops.
  const energy = new Float64Array(hops);
  const [shelf, highpass] = kWeighting(sampleRate);
  for (let channel = 0; channel < channelCount; channel++) {
    if (planar) addHopEnergies(pcm[channel], start, 1, hop, energy, shelf, highpass);
    else addHopEnergies(pcm.interleaved, start * channelCount + channel, channelCount, hop, energy, shelf, highpass);
  }
  const blocks: number[] = [];
  for (let h = 0; h + hopsPerBlock <= hops; h++) {
    let sum = 0;
    for (let j = h; j < h + hopsPerBlock; j++) sum += energy[j];
    const meanSquare = sum / (hop * hopsPerBlock);
    if (lufs(meanSquare) > ABSOLUTE_GATE_LUFS) blocks.push(meanSquare);
  }
  if (!blocks.length) return ABSOLUTE_GATE_LUFS;
  const relativeGate = lufs(blocks.reduce((sum, value) => sum + value, 0) / blocks.length) + RELATIVE_GATE_LU;
  const gated = blocks.filter((meanSquare) => lufs(meanSquare) > relativeGate);
  return Math.max(ABSOLUTE_GATE_LUFS, lufs(gated.reduce((sum, value) => sum + value, 0) / gated.length));
}
