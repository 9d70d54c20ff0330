import FFT from 'fft.js';

/** Short-time spectra for the audio-side estimators (tempo, key, timbre): a magnitude STFT on fft.js. */

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
  const fft = new FFT(size);
  const frame = new Float64Array(size);
  const out = fft.createComplexArray() as number[];
  for (let f = 0; f < frames; f++) {
    const start = f * hop - size / 2;
    for (let i = 0; i < size; i++) {
      const at = start + i;
      frame[i] = at >= 0 && at < samples.length ? samples[at] * window[i] : 0;
    }
    // A real transform fills the bins 0…size/2, all a magnitude spectrum needs.
    fft.realTransform(out, frame);
    const row = f * bins;
    for (let k = 0; k < bins; k++) magnitudes[row + k] = Math.hypot(out[2 * k], out[2 * k + 1]);
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
