/** Short-time spectra for the audio-side estimators (tempo, key, timbre): a radix-2 FFT and a magnitude STFT. */

const plans = new Map<number, { cos: Float64Array; sin: Float64Array; bits: Uint32Array }>();

function fftPlan(size: number) {
  let plan = plans.get(size);
  if (!plan) {
    const half = size >> 1;
    const cos = new Float64Array(half);
    const sin = new Float64Array(half);
    for (let i = 0; i < half; i++) {
      cos[i] = Math.cos((2 * Math.PI * i) / size);
      sin[i] = -Math.sin((2 * Math.PI * i) / size);
    }
    const levels = Math.log2(size);
    const bits = new Uint32Array(size);
    for (let i = 0; i < size; i++) {
      let reversed = 0;
      for (let b = 0; b < levels; b++) reversed |= ((i >> b) & 1) << (levels - 1 - b);
      bits[i] = reversed;
    }
    plan = { cos, sin, bits };
    plans.set(size, plan);
  }
  return plan;
}

/** In-place iterative complex FFT; `size` must be a power of two. */
export function fft(re: Float64Array, im: Float64Array): void {
  const size = re.length;
  if ((size & (size - 1)) !== 0) throw new Error(`FFT size ${size} is not a power of two`);
  const { cos, sin, bits } = fftPlan(size);
  for (let i = 0; i < size; i++) {
    const j = bits[i];
    if (j > i) {
      let t = re[i];
      re[i] = re[j];
      re[j] = t;
      t = im[i];
      im[i] = im[j];
      im[j] = t;
    }
  }
  for (let length = 2; length <= size; length <<= 1) {
    const half = length >> 1;
    const stride = size / length;
    for (let start = 0; start < size; start += length) {
      for (let k = 0; k < half; k++) {
        const wr = cos[k * stride];
        const wi = sin[k * stride];
        const a = start + k;
        const b = a + half;
        const xr = re[b] * wr - im[b] * wi;
        const xi = re[b] * wi + im[b] * wr;
        re[b] = re[a] - xr;
        im[b] = im[a] - xi;
        re[a] += xr;
        im[a] += xi;
      }
    }
  }
}

export interface Spectrogram {
  /** Magnitudes, `frames × bins` row-major, bins 0…size/2. */
  magnitudes: Float32Array;
  frames: number;
  bins: number;
  hopSeconds: number;
  binHz: number;
}

/** Hann-windowed magnitude STFT of a mono signal; frames are centred on `f × hop`. */
export function stft(samples: Float32Array, sampleRate: number, size: number, hop: number): Spectrogram {
  const bins = size / 2 + 1;
  const frames = Math.max(1, Math.floor(samples.length / hop) + 1);
  const magnitudes = new Float32Array(frames * bins);
  const window = new Float64Array(size);
  for (let i = 0; i < size; i++) window[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / size);
  const re = new Float64Array(size);
  const im = new Float64Array(size);
  for (let f = 0; f < frames; f++) {
    const start = f * hop - size / 2;
    for (let i = 0; i < size; i++) {
      const at = start + i;
      re[i] = at >= 0 && at < samples.length ? samples[at] * window[i] : 0;
      im[i] = 0;
    }
    fft(re, im);
    const row = f * bins;
    for (let k = 0; k < bins; k++) magnitudes[row + k] = Math.hypot(re[k], im[k]);
  }
  return { magnitudes, frames, bins, hopSeconds: hop / sampleRate, binHz: sampleRate / size };
}

/** Averages channels into one (the estimators listen to the whole mix). */
export function monoOf(channels: Float32Array[]): Float32Array {
  if (channels.length === 1) return channels[0];
  const out = new Float32Array(channels[0].length);
  for (const channel of channels) for (let i = 0; i < out.length; i++) out[i] += channel[i] / channels.length;
  return out;
}

/** Keeps every `factor`-th sample after a moving-average anti-alias filter: cheap and enough for rhythm and chroma up to ~2 kHz. */
export function decimate(samples: Float32Array, factor: number): Float32Array {
  if (factor <= 1) return samples;
  const out = new Float32Array(Math.floor(samples.length / factor));
  for (let o = 0; o < out.length; o++) {
    let sum = 0;
    const from = o * factor;
    for (let k = 0; k < factor; k++) sum += samples[from + k];
    out[o] = sum / factor;
  }
  return out;
}
