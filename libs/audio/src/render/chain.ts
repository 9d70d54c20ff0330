/** The effects after the sampler (its own reverb and chorus stay off): a shared reverb, filters, vinyl and the master's finish. */

/** A full-rate send averaged over each pair of frames: the reverb's input at half the sample rate. */
export function halfRate(send: Float32Array): Float32Array {
  const half = new Float32Array(Math.ceil(send.length / 2));
  for (let i = 0; i < half.length; i++) half[i] = 0.5 * (send[2 * i] + (send[2 * i + 1] ?? 0));
  return half;
}

/**
 * A Schroeder–Moorer reverb: four damped combs over the summed send, decorrelated per side by
 * different all-passes, with the decay set in seconds (RT60). It runs at half the sample rate (a
 * reverb's tail holds little above 10 kHz), so it takes its send at half the rate (`halfRate`), and
 * adds its return into `left`/`right` at the full rate. Combs, all-passes and the return run in one
 * pass over the send: the delay lines stay in cache and the stems are touched once.
 */
export function addReverb(input: Float32Array, left: Float32Array, right: Float32Array, rate: number, seconds: number, level: number): void {
  if (level <= 0 || seconds <= 0) return;
  const half = Math.ceil(left.length / 2);
  const halfRate = rate / 2;
  const scale = halfRate / 44_100;
  const size = (delay: number) => Math.max(1, Math.round(delay * scale));
  const feedback = (length: number) => 10 ** ((-3 * length) / (seconds * halfRate));
  // Plain locals, not arrays destructured: this runs once per stem, its loop is optimised while it runs, and a
  // destructured array whose elements kind changed between calls threw that code away at the next call's start.
  const n0 = size(1557), n1 = size(1617), n2 = size(1491), n3 = size(1422); // prettier-ignore
  const f0 = feedback(n0), f1 = feedback(n1), f2 = feedback(n2), f3 = feedback(n3); // prettier-ignore
  const c0 = new Float32Array(n0), c1 = new Float32Array(n1), c2 = new Float32Array(n2), c3 = new Float32Array(n3); // prettier-ignore
  const nl0 = size(556), nl1 = size(441), nr0 = size(579), nr1 = size(464); // prettier-ignore
  const l0 = new Float32Array(nl0), l1 = new Float32Array(nl1), r0 = new Float32Array(nr0), r1 = new Float32Array(nr1); // prettier-ignore
  const lastFrame = left.length - 1;
  let i0 = 0, i1 = 0, i2 = 0, i3 = 0, d0 = 0, d1 = 0, d2 = 0, d3 = 0; // prettier-ignore
  let j0 = 0, j1 = 0, k0 = 0, k1 = 0, lastL = 0, lastR = 0; // prettier-ignore
  for (let i = 0; i < half; i++) {
    const x = input[i] ?? 0;
    // The damping low-passes each pass round the loop: the tail darkens as it decays, as a room does.
    const o0 = c0[i0];
    d0 = o0 * 0.55 + d0 * 0.45;
    c0[i0] = x + d0 * f0;
    if (++i0 === n0) i0 = 0;
    const o1 = c1[i1];
    d1 = o1 * 0.55 + d1 * 0.45;
    c1[i1] = x + d1 * f1;
    if (++i1 === n1) i1 = 0;
    const o2 = c2[i2];
    d2 = o2 * 0.55 + d2 * 0.45;
    c2[i2] = x + d2 * f2;
    if (++i2 === n2) i2 = 0;
    const o3 = c3[i3];
    d3 = o3 * 0.55 + d3 * 0.45;
    c3[i3] = x + d3 * f3;
    if (++i3 === n3) i3 = 0;
    const combed = (o0 + o1 + o2 + o3) * 0.25;
    // Two all-passes per side (different lengths decorrelate the sides).
    let b = l0[j0];
    let v = combed - b * 0.5;
    l0[j0] = v;
    let wetL = b + v * 0.5;
    if (++j0 === nl0) j0 = 0;
    b = l1[j1];
    v = wetL - b * 0.5;
    l1[j1] = v;
    wetL = b + v * 0.5;
    if (++j1 === nl1) j1 = 0;
    b = r0[k0];
    v = combed - b * 0.5;
    r0[k0] = v;
    let wetR = b + v * 0.5;
    if (++k0 === nr0) k0 = 0;
    b = r1[k1];
    v = wetR - b * 0.5;
    r1[k1] = v;
    wetR = b + v * 0.5;
    if (++k1 === nr1) k1 = 0;
    // Back to the full rate by linear interpolation: the odd frame before this one lies between the last two.
    const at = 2 * i;
    if (i > 0) {
      left[at - 1] += (lastL + wetL) * 0.5 * level;
      right[at - 1] += (lastR + wetR) * 0.5 * level;
    }
    left[at] += wetL * level;
    right[at] += wetR * level;
    lastL = wetL;
    lastR = wetR;
  }
  if (lastFrame > 0 && lastFrame % 2 === 1) {
    left[lastFrame] += lastL * level;
    right[lastFrame] += lastR * level;
  }
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
    addReverb(halfRate(send), wetL, wetR, rate, 2.5, 1.6);
    for (let i = 0; i < length; i++) {
      const gate = i < open ? 1 : 1 - (i - open) / close;
      left[onset + i] += wetL[i] * gate;
      right[onset + i] += wetR[i] * gate;
    }
  }
}

/** What shapes the instrumental after the reverbs: each style's colour, then the glue and the headroom. */
export interface StemFinish {
  /** Where each section starts (frame) and its energy, for the tone that opens up as the song rises. */
  sections: { from: number; energy: number }[];
  /** The style's air shelf above 5 kHz, dB. */
  air?: number;
  /** The style's low-pass over the whole instrumental, Hz. */
  lowpassHz?: number;
  /** Vinyl hiss and crackle under the music: its level and the seeded noise it is drawn from. */
  vinyl?: { level: number; random: () => number };
  /** How far under the stem's peak the limiter brings the few hits that stand above the music, dB. */
  reductionDb: number;
}

const IDENTITY: Biquad = { b0: 1, b1: 0, b2: 0, a1: 0, a2: 0 };
const TONE_STEP = 256;

/**
 * The section tone's high shelf for each 256-frame step: above 1.2 kHz, following each section's
 * energy (−9 dB in a quiet intro at 0.3, flat from 0.85 up), glided over ~0.3 s so it never steps.
 */
function sectionShelves(frames: number, rate: number, spans: { from: number; energy: number }[]): Float64Array {
  const glide = 1 - Math.exp(-TONE_STEP / (0.3 * rate));
  const steps = Math.ceil(frames / TONE_STEP);
  const shelves = new Float64Array(steps * 5);
  let span = 0;
  let gain = Number.NaN;
  for (let step = 0; step < steps; step++) {
    const start = step * TONE_STEP;
    while (span + 1 < spans.length && spans[span + 1].from <= start) span++;
    const target = spans.length ? -14 * (1 - Math.min(1, spans[span].energy / 0.85)) : 0;
    gain = Number.isNaN(gain) ? target : gain + (target - gain) * glide;
    const { b0, b1, b2, a1, a2 } = highShelf(1200, gain, rate);
    shelves.set([b0, b1, b2, a1, a2], step * 5);
  }
  return shelves;
}

/**
 * One channel's colour in one pass: the section tone, the air shelf, the low-pass and the vinyl
 * noise (each a biquad; an absent one is the identity). Returns the channel's peak, and raises each
 * step's entry of `stepPeaks` to the step's peak, so the limiter only looks at the steps over its threshold.
 */
function colourChannel(samples: Float32Array, shelves: Float64Array, air: Biquad, lowpass: Biquad, rate: number, vinyl: StemFinish['vinyl'], stepPeaks: Float32Array): number {
  const { b0: e0, b1: e1, b2: e2, a1: ea1, a2: ea2 } = air;
  const { b0: p0, b1: p1, b2: p2, a1: pa1, a2: pa2 } = lowpass;
  const noise = vinyl ? bandpass(1500, 0.8, rate) : IDENTITY;
  const { b0: n0, b1: n1, b2: n2, a1: na1, a2: na2 } = noise;
  const random = vinyl?.random;
  const noiseLevel = vinyl?.level ?? 0;
  const crackle = 3 / rate;
  let s1 = 0, s2 = 0, e1z = 0, e2z = 0, p1z = 0, p2z = 0, n1z = 0, n2z = 0, peak = 0; // prettier-ignore
  for (let start = 0, step = 0; start < samples.length; start += TONE_STEP, step++) {
    const at = step * 5;
    const b0 = shelves[at], b1 = shelves[at + 1], b2 = shelves[at + 2], a1 = shelves[at + 3], a2 = shelves[at + 4]; // prettier-ignore
    const end = Math.min(samples.length, start + TONE_STEP);
    let stepPeak = 0;
    for (let i = start; i < end; i++) {
      const x = samples[i];
      const tone = b0 * x + s1;
      s1 = b1 * x - a1 * tone + s2;
      s2 = b2 * x - a2 * tone;
      const aired = e0 * tone + e1z;
      e1z = e1 * tone - ea1 * aired + e2z;
      e2z = e2 * tone - ea2 * aired;
      let y = p0 * aired + p1z;
      p1z = p1 * aired - pa1 * y + p2z;
      p2z = p2 * aired - pa2 * y;
      if (random) {
        // Crackles: single-sample clicks a few times a second, rounded by the band-pass with the hiss.
        const hiss = (random() * 2 - 1) * noiseLevel * (random() < crackle ? 14 : 0.8);
        const v = n0 * hiss + n1z;
        n1z = n1 * hiss - na1 * v + n2z;
        n2z = n2 * hiss - na2 * v;
        y += v;
      }
      samples[i] = y;
      const magnitude = y < 0 ? -y : y;
      if (magnitude > stepPeak) stepPeak = magnitude;
    }
    if (stepPeak > stepPeaks[step]) stepPeaks[step] = stepPeak;
    if (stepPeak > peak) peak = stepPeak;
  }
  return peak;
}

/**
 * The instrumental's last stage, in four passes over the stems instead of one per effect: its
 * colour (`colourChannel`), then a look-ahead peak limiter, the glue of a mix bus: the few drum and
 * cymbal hits that stand far above the music are brought down to `reductionDb` under the stem's peak
 * (gain falls over the 4 ms look-ahead before a peak and recovers over 80 ms), so the stem reaches
 * the master with a musical crest factor instead of a handful of spikes the mastering limiter and
 * the MP3 encoder would have to fight; then a soft saturation (a Padé tanh) and a gain that puts the
 * peak at −3 dBFS, leaving the mastering stage headroom.
 */
export function finishStem(left: Float32Array, right: Float32Array, rate: number, finish: StemFinish): void {
  const frames = left.length;
  const shelves = sectionShelves(frames, rate, finish.sections);
  const air = finish.air ? highShelf(5000, finish.air, rate) : IDENTITY;
  const low = finish.lowpassHz ? lowpass(finish.lowpassHz, rate) : IDENTITY;
  const stepPeaks = new Float32Array(Math.ceil(frames / TONE_STEP));
  const peak = Math.max(colourChannel(left, shelves, air, low, rate, finish.vinyl, stepPeaks), colourChannel(right, shelves, air, low, rate, finish.vinyl, stepPeaks));
  if (peak === 0) return;

  const threshold = peak * 10 ** (-finish.reductionDb / 20);
  const lookahead = Math.max(1, Math.round(0.004 * rate));
  // Only the few frames over the threshold need gain; each pulls down the look-ahead window before it.
  const gain = new Float32Array(frames).fill(1);
  let lowered = frames;
  for (let step = 0; step < stepPeaks.length; step++) {
    if (stepPeaks[step] <= threshold) continue;
    for (let i = step * TONE_STEP; i < Math.min(frames, (step + 1) * TONE_STEP); i++) {
      const l = left[i] < 0 ? -left[i] : left[i];
      const r = right[i] < 0 ? -right[i] : right[i];
      const level = l > r ? l : r;
      if (level <= threshold) continue;
      const needed = threshold / level;
      for (let j = Math.max(0, i - lookahead); j <= i; j++) if (needed < gain[j]) gain[j] = needed;
      if (lowered === frames) lowered = Math.max(0, i - lookahead);
    }
  }
  // Falls linearly over the look-ahead (already in the window minimum), recovers exponentially.
  const recover = 1 - Math.exp(-1 / (0.08 * rate));
  let current = 1;
  let saturated = 0;
  for (let i = 0; i < frames; i++) {
    if (i >= lowered) current = gain[i] < current ? gain[i] : current + (gain[i] - current) * recover;
    let x = left[i] * current;
    x = x > 3 ? 3 : x < -3 ? -3 : x;
    let x2 = x * x;
    const l = (x * (27 + x2)) / (27 + 9 * x2);
    x = right[i] * current;
    x = x > 3 ? 3 : x < -3 ? -3 : x;
    x2 = x * x;
    const r = (x * (27 + x2)) / (27 + 9 * x2);
    left[i] = l;
    right[i] = r;
    const magnitude = Math.max(l < 0 ? -l : l, r < 0 ? -r : r);
    if (magnitude > saturated) saturated = magnitude;
  }
  if (saturated > 0) {
    const scale = 0.708 / saturated;
    for (let i = 0; i < frames; i++) {
      left[i] *= scale;
      right[i] *= scale;
    }
  }
}
