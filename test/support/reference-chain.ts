/**
 * The render chain written one effect and one pass at a time, as the sampler ran it before its passes
 * were fused: the oracle the fused chain in libs/audio/src/render/chain.ts is checked against.
 */

/**
 * A Schroeder–Moorer reverb: four damped combs over the summed send, decorrelated per side by
 * different all-passes, with the decay set in seconds (RT60). It runs at half the sample rate (a
 * reverb's tail holds little above 10 kHz), which halves its cost. Adds its return into `left`/`right`.
 */
export function addReverb(send: Float32Array, left: Float32Array, right: Float32Array, rate: number, seconds: number, level: number): void {
  if (level <= 0 || seconds <= 0) return;
  const half = Math.ceil(send.length / 2);
  const halfRate = rate / 2;
  const scale = halfRate / 44_100;
  const input = new Float32Array(half);
  for (let i = 0; i < half; i++) input[i] = 0.5 * (send[2 * i] + (send[2 * i + 1] ?? 0));
  const combed = new Float32Array(half);
  for (const delay of [1557, 1617, 1491, 1422]) {
    const length = Math.round(delay * scale);
    const feedback = 10 ** ((-3 * length) / (seconds * halfRate));
    const line = new Float32Array(length);
    let index = 0;
    let damp = 0;
    for (let i = 0; i < half; i++) {
      const out = line[index];
      // The damping low-passes each pass round the loop: the tail darkens as it decays, as a room does.
      damp = out * 0.55 + damp * 0.45;
      line[index] = input[i] + damp * feedback;
      combed[i] += out * 0.25;
      if (++index === length) index = 0;
    }
  }
  const diffuse = (target: Float32Array, delays: number[]) => {
    const wet = Float32Array.from(combed);
    for (const delay of delays) {
      const length = Math.round(delay * scale);
      const line = new Float32Array(length);
      let index = 0;
      for (let i = 0; i < half; i++) {
        const buffered = line[index];
        const value = wet[i] - buffered * 0.5;
        line[index] = value;
        wet[i] = buffered + value * 0.5;
        if (++index === length) index = 0;
      }
    }
    // Back to the full rate by linear interpolation.
    for (let i = 0; i < target.length; i++) {
      const k = i >> 1;
      const a = wet[k];
      const b = i & 1 ? (wet[k + 1] ?? a) : a;
      target[i] += (i & 1 ? (a + b) * 0.5 : a) * level;
    }
  };
  diffuse(left, [556, 441]);
  diffuse(right, [579, 464]);
}

/** RBJ biquad coefficients, normalised by a0. */
interface Biquad {
  b0: number;
  b1: number;
  b2: number;
  a1: number;
  a2: number;
}

function lowpass(hz: number, rate: number, q = Math.SQRT1_2): Biquad {
  const w = (2 * Math.PI * Math.min(hz, rate * 0.45)) / rate;
  const alpha = Math.sin(w) / (2 * q);
  const cos = Math.cos(w);
  const a0 = 1 + alpha;
  return { b0: (1 - cos) / 2 / a0, b1: (1 - cos) / a0, b2: (1 - cos) / 2 / a0, a1: (-2 * cos) / a0, a2: (1 - alpha) / a0 };
}

function highpass(hz: number, rate: number, q = Math.SQRT1_2): Biquad {
  const w = (2 * Math.PI * hz) / rate;
  const alpha = Math.sin(w) / (2 * q);
  const cos = Math.cos(w);
  const a0 = 1 + alpha;
  return { b0: (1 + cos) / 2 / a0, b1: -(1 + cos) / a0, b2: (1 + cos) / 2 / a0, a1: (-2 * cos) / a0, a2: (1 - alpha) / a0 };
}

/** A band-pass (constant 0 dB peak gain) around `hz`. */
function bandpass(hz: number, q: number, rate: number): Biquad {
  const w = (2 * Math.PI * hz) / rate;
  const alpha = Math.sin(w) / (2 * q);
  const a0 = 1 + alpha;
  return { b0: alpha / a0, b1: 0, b2: -alpha / a0, a1: (-2 * Math.cos(w)) / a0, a2: (1 - alpha) / a0 };
}

/** A shelf that lifts (or cuts) everything below `hz` by `db`. */
function lowShelf(hz: number, db: number, rate: number): Biquad {
  const a = 10 ** (db / 40);
  const w = (2 * Math.PI * hz) / rate;
  const cos = Math.cos(w);
  const alpha = (Math.sin(w) / 2) * Math.SQRT2;
  const root = 2 * Math.sqrt(a) * alpha;
  const a0 = a + 1 + (a - 1) * cos + root;
  return {
    b0: (a * (a + 1 - (a - 1) * cos + root)) / a0,
    b1: (2 * a * (a - 1 - (a + 1) * cos)) / a0,
    b2: (a * (a + 1 - (a - 1) * cos - root)) / a0,
    a1: (-2 * (a - 1 + (a + 1) * cos)) / a0,
    a2: (a + 1 + (a - 1) * cos - root) / a0,
  };
}

/** A shelf that lifts (or cuts) everything above `hz` by `db`. */
function highShelf(hz: number, db: number, rate: number): Biquad {
  const a = 10 ** (db / 40);
  const w = (2 * Math.PI * hz) / rate;
  const cos = Math.cos(w);
  const alpha = (Math.sin(w) / 2) * Math.SQRT2;
  const root = 2 * Math.sqrt(a) * alpha;
  const a0 = a + 1 - (a - 1) * cos + root;
  return {
    b0: (a * (a + 1 + (a - 1) * cos + root)) / a0,
    b1: (-2 * a * (a - 1 + (a + 1) * cos)) / a0,
    b2: (a * (a + 1 + (a - 1) * cos - root)) / a0,
    a1: (2 * (a - 1 - (a + 1) * cos)) / a0,
    a2: (a + 1 - (a - 1) * cos - root) / a0,
  };
}

/** Runs a biquad over a signal in place (direct form II transposed). */
function filter(samples: Float32Array, { b0, b1, b2, a1, a2 }: Biquad): void {
  let z1 = 0;
  let z2 = 0;
  for (let i = 0; i < samples.length; i++) {
    const x = samples[i];
    const y = b0 * x + z1;
    z1 = b1 * x - a1 * y + z2;
    z2 = b2 * x - a2 * y;
    samples[i] = y;
  }
}

export const filters = { lowpass, highpass, lowShelf, highShelf };

/**
 * The mix opening up as the song rises: a high shelf above 1.2 kHz that follows each section's
 * energy (−9 dB in a quiet intro at 0.3, flat from 0.85 up), glided over ~0.3 s so it never steps.
 */
export function sectionTone(channels: Float32Array[], rate: number, spans: { from: number; energy: number }[]): void {
  const step = 256;
  const glide = 1 - Math.exp(-step / (0.3 * rate));
  const states = channels.map(() => ({ z1: 0, z2: 0 }));
  let span = 0;
  let gain = Number.NaN;
  for (let start = 0; start < channels[0].length; start += step) {
    while (span + 1 < spans.length && spans[span + 1].from <= start) span++;
    const target = -14 * (1 - Math.min(1, spans[span].energy / 0.85));
    gain = Number.isNaN(gain) ? target : gain + (target - gain) * glide;
    const { b0, b1, b2, a1, a2 } = highShelf(1200, gain, rate);
    const end = Math.min(channels[0].length, start + step);
    channels.forEach((channel, c) => {
      let { z1, z2 } = states[c];
      for (let i = start; i < end; i++) {
        const x = channel[i];
        const y = b0 * x + z1;
        z1 = b1 * x - a1 * y + z2;
        z2 = b2 * x - a2 * y;
        channel[i] = y;
      }
      states[c] = { z1, z2 };
    });
  }
}

/** Applies biquads in series to both channels. */
export function equalise(channels: Float32Array[], stages: Biquad[]): void {
  for (const channel of channels) for (const stage of stages) filter(channel, stage);
}

/** Vinyl under the music: a soft hiss around 1.5 kHz and sparse crackles, different on each side. */
export function addVinyl(left: Float32Array, right: Float32Array, rate: number, level: number, random: () => number): void {
  const { b0, b1, b2, a1, a2 } = bandpass(1500, 0.8, rate);
  const crackle = 3 / rate;
  for (const channel of [left, right]) {
    let z1 = 0;
    let z2 = 0;
    for (let i = 0; i < channel.length; i++) {
      // Crackles: single-sample clicks a few times a second, rounded by the band-pass with the hiss.
      const x = (random() * 2 - 1) * level * (random() < crackle ? 14 : 0.8);
      const y = b0 * x + z1;
      z1 = b1 * x - a1 * y + z2;
      z2 = b2 * x - a2 * y;
      channel[i] += y;
    }
  }
}

/**
 * The gated snare: each snare hit (its first 50 ms, above the kick's range) feeds a big reverb
 * whose tail is cut short after `gateSeconds`, the 1980s drum sound. Only the gated windows are computed.
 */
export function addGatedReverb(drums: [Float32Array, Float32Array], onsets: number[], left: Float32Array, right: Float32Array, rate: number, gateSeconds = 0.24): void {
  const take = Math.round(0.05 * rate);
  const open = Math.round(gateSeconds * rate);
  const close = Math.round(0.02 * rate);
  const window = open + close;
  const shape = highpass(400, rate);
  for (const onset of onsets) {
    const length = Math.min(window, left.length - onset);
    if (length <= 0) continue;
    const send = new Float32Array(length);
    for (let i = 0; i < Math.min(take, length); i++) send[i] = (drums[0][onset + i] + drums[1][onset + i]) * 0.5;
    filter(send, shape);
    const wetL = new Float32Array(length);
    const wetR = new Float32Array(length);
    addReverb(send, wetL, wetR, rate, 2.5, 1.6);
    for (let i = 0; i < length; i++) {
      const gate = i < open ? 1 : 1 - (i - open) / close;
      left[onset + i] += wetL[i] * gate;
      right[onset + i] += wetR[i] * gate;
    }
  }
}

/**
 * A look-ahead peak limiter, the glue of a mix bus: the few drum and cymbal hits that stand far
 * above the music are brought down to `reductionDb` under the stem's peak (gain falls over the
 * look-ahead before a peak and recovers over `releaseSeconds`), so the stem reaches the master with
 * a musical crest factor instead of a handful of spikes the mastering limiter and the MP3 encoder
 * would have to fight.
 */
export function limitPeaks(left: Float32Array, right: Float32Array, rate: number, reductionDb = 6, lookaheadSeconds = 0.004, releaseSeconds = 0.08): void {
  const frames = left.length;
  let peak = 0;
  for (let i = 0; i < frames; i++) {
    const l = left[i] < 0 ? -left[i] : left[i];
    const r = right[i] < 0 ? -right[i] : right[i];
    if (l > peak) peak = l;
    if (r > peak) peak = r;
  }
  if (peak === 0) return;
  const threshold = peak * 10 ** (-reductionDb / 20);
  const lookahead = Math.max(1, Math.round(lookaheadSeconds * rate));
  // Only the few frames over the threshold need gain; each pulls down the look-ahead window before it.
  const gain = new Float32Array(frames).fill(1);
  let lowered = frames;
  for (let i = 0; i < frames; i++) {
    const l = left[i] < 0 ? -left[i] : left[i];
    const r = right[i] < 0 ? -right[i] : right[i];
    const level = l > r ? l : r;
    if (level <= threshold) continue;
    const needed = threshold / level;
    for (let j = Math.max(0, i - lookahead); j <= i; j++) if (needed < gain[j]) gain[j] = needed;
    if (lowered === frames) lowered = Math.max(0, i - lookahead);
  }
  // Falls linearly over the look-ahead (already in the window minimum), recovers exponentially.
  const recover = 1 - Math.exp(-1 / (releaseSeconds * rate));
  let current = 1;
  for (let i = lowered; i < frames; i++) {
    current = gain[i] < current ? gain[i] : current + (gain[i] - current) * recover;
    left[i] *= current;
    right[i] *= current;
  }
}

/** Soft-saturates (a Padé tanh) and scales the mix so its peak sits at −3 dBFS, leaving the mastering stage headroom. */
export function finish(left: Float32Array, right: Float32Array): void {
  let peak = 0;
  for (const channel of [left, right]) {
    for (let i = 0; i < channel.length; i++) {
      const x = Math.max(-3, Math.min(3, channel[i]));
      const x2 = x * x;
      const y = (x * (27 + x2)) / (27 + 9 * x2);
      channel[i] = y;
      if (y > peak) peak = y;
      else if (-y > peak) peak = -y;
    }
  }
  if (peak > 0) {
    const gain = 0.708 / peak;
    for (let i = 0; i < left.length; i++) {
      left[i] *= gain;
      right[i] *= gain;
    }
  }
}
