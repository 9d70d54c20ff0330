import type { Blueprint, SectionArrangement } from '@mcm/pipeline';
import { defaultProgression, parseChord, parseKey, type Chord } from './harmony';

/** Everything the synthesiser needs; the caller resolves the time signature and the exact length. */
export interface InstrumentalScore {
  blueprint: Blueprint;
  beatsPerBar: number;
  totalFrames: number;
  sampleRate: number;
}

type Wave = 'saw' | 'square' | 'triangle' | 'sine';

interface StylePreset {
  padWave: Wave;
  padCutoff: number;
  padAttack: number;
  padLevel: number;
  bassWave: Wave;
  leadWave: Wave;
  leadLevel: number;
  drumLevel: number;
  hatLevel: number;
  swing: number;
  reverb: number;
  crackle: number;
}

const PRESETS: Record<'cinematic' | 'anthem' | 'lofi' | 'synthwave', StylePreset> = {
  cinematic: { padWave: 'saw', padCutoff: 1600, padAttack: 0.45, padLevel: 0.16, bassWave: 'saw', leadWave: 'triangle', leadLevel: 0.2, drumLevel: 0.85, hatLevel: 0.5, swing: 0, reverb: 0.35, crackle: 0 },
  anthem: { padWave: 'saw', padCutoff: 3200, padAttack: 0.06, padLevel: 0.15, bassWave: 'saw', leadWave: 'saw', leadLevel: 0.16, drumLevel: 1, hatLevel: 0.7, swing: 0, reverb: 0.2, crackle: 0 },
  lofi: { padWave: 'triangle', padCutoff: 1100, padAttack: 0.08, padLevel: 0.22, bassWave: 'sine', leadWave: 'sine', leadLevel: 0.22, drumLevel: 0.75, hatLevel: 0.45, swing: 0.12, reverb: 0.15, crackle: 0.004 },
  synthwave: { padWave: 'square', padCutoff: 2400, padAttack: 0.12, padLevel: 0.12, bassWave: 'square', leadWave: 'saw', leadLevel: 0.15, drumLevel: 0.95, hatLevel: 0.6, swing: 0, reverb: 0.3, crackle: 0 },
};

/** Picks a timbre preset from the free-text style; anything unrecognised sounds cinematic. */
export function stylePreset(style: string): StylePreset {
  const text = style.toLowerCase();
  if (/lo-?fi|chill|jazz|study/.test(text)) return PRESETS.lofi;
  if (/synth|80s|retro|wave|neon/.test(text)) return PRESETS.synthwave;
  if (/anthem|rock|pop|epic|stadium|punk/.test(text)) return PRESETS.anthem;
  return PRESETS.cinematic;
}

/** A small deterministic PRNG so the same blueprint always renders the same noise. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hashString(text: string): number {
  let hash = 2166136261;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619);
  return hash >>> 0;
}

const midiHz = (midi: number): number => 440 * 2 ** ((midi - 69) / 12);

const TABLE_SIZE = 2048;

/** One cycle of each waveform, so every oscillator reads a table instead of branching per sample. */
const WAVETABLES: Record<Wave, Float32Array> = (() => {
  const make = (shape: (phase: number) => number) => Float32Array.from({ length: TABLE_SIZE + 1 }, (_, i) => shape((i % TABLE_SIZE) / TABLE_SIZE));
  return {
    saw: make((phase) => 2 * phase - 1),
    square: make((phase) => (phase < 0.5 ? 0.8 : -0.8)),
    triangle: make((phase) => 4 * Math.abs(phase - 0.5) - 1),
    sine: make((phase) => Math.sin(2 * Math.PI * phase)),
  };
})();

interface ToneSpec {
  start: number;
  length: number;
  hz: number;
  wave: Wave;
  level: number;
  pan: number;
  attack: number;
  decay: number;
  sustain: number;
  release: number;
  cutoff: number;
  detuneCents?: number;
  vibrato?: number;
  /** A second oscillator's waveform (e.g. a sine sub under a bass saw); by default a detuned copy of the first. */
  subWave?: Wave;
}

class Mixer {
  readonly left: Float32Array;
  readonly right: Float32Array;
  readonly sendLeft: Float32Array;
  readonly sendRight: Float32Array;

  constructor(
    readonly frames: number,
    readonly rate: number,
  ) {
    this.left = new Float32Array(frames);
    this.right = new Float32Array(frames);
    this.sendLeft = new Float32Array(frames);
    this.sendRight = new Float32Array(frames);
  }

  /** An enveloped, one-pole low-passed oscillator pair (detuned for width), optionally sent to the reverb. */
  tone(spec: ToneSpec, send = 0): void {
    const { rate } = this;
    const attack = Math.max(1, Math.round(spec.attack * rate));
    const decay = Math.max(1, Math.round(spec.decay * rate));
    const release = Math.max(1, Math.round(spec.release * rate));
    const end = Math.min(this.frames, spec.start + spec.length + release);
    if (spec.start >= end) return;
    const detune = 2 ** ((spec.detuneCents ?? 0) / 1200);
    const table = WAVETABLES[spec.wave];
    const tableB = WAVETABLES[spec.subWave ?? spec.wave];
    const weightA = spec.subWave ? 0.55 : 0.5;
    const weightB = spec.subWave ? 0.7 : 0.5;
    const sine = WAVETABLES.sine;
    const stepA = (spec.hz * detune * TABLE_SIZE) / rate;
    const stepB = (spec.hz * TABLE_SIZE) / detune / rate;
    const vibratoStep = (5.2 * TABLE_SIZE) / rate;
    const vibratoFrom = Math.round(rate * 0.15);
    const vibrato = spec.vibrato ?? 0;
    const alpha = 1 - Math.exp((-2 * Math.PI * Math.min(spec.cutoff, rate * 0.45)) / rate);
    const gainL = spec.level * Math.cos(((spec.pan + 1) * Math.PI) / 4);
    const gainR = spec.level * Math.sin(((spec.pan + 1) * Math.PI) / 4);
    const sendL = gainL * send;
    const sendR = gainR * send;
    const decayEnd = attack + decay;
    const { left, right, sendLeft, sendRight } = this;
    const noteStart = spec.start;
    const noteLength = spec.length;
    const sustain = spec.sustain;
    const decaySlope = (1 - sustain) / decay;
    const hasSend = send > 0;
    let phaseA = 0;
    let phaseB = 0.37 * TABLE_SIZE;
    let vibratoPhase = 0;
    let filtered = 0;
    let held = sustain;
    for (let i = Math.max(0, noteStart); i < end; i++) {
      const t = i - noteStart;
      let env: number;
      if (t < attack) env = t / attack;
      else if (t < decayEnd) env = 1 - decaySlope * (t - attack);
      else env = sustain;
      if (t < noteLength) held = env;
      else env = held * (1 - (t - noteLength) / release);
      let wobble = 1;
      if (vibrato > 0 && t > vibratoFrom) {
        vibratoPhase += vibratoStep;
        if (vibratoPhase >= TABLE_SIZE) vibratoPhase -= TABLE_SIZE;
        wobble += vibrato * sine[vibratoPhase | 0];
      }
      phaseA += stepA * wobble;
      phaseB += stepB * wobble;
      if (phaseA >= TABLE_SIZE) phaseA -= TABLE_SIZE;
      if (phaseB >= TABLE_SIZE) phaseB -= TABLE_SIZE;
      filtered += alpha * (table[phaseA | 0] * weightA + tableB[phaseB | 0] * weightB - filtered);
      const sample = filtered * env;
      left[i] += sample * gainL;
      right[i] += sample * gainR;
      if (hasSend) {
        sendLeft[i] += sample * sendL;
        sendRight[i] += sample * sendR;
      }
    }
  }

  /** Adds a pre-rendered one-shot (drum hit) at a frame, panned and optionally sent to the reverb. */
  hit(sample: Float32Array, at: number, level: number, pan = 0, send = 0): void {
    const length = Math.min(sample.length, this.frames - at);
    const gainL = level * Math.cos(((pan + 1) * Math.PI) / 4);
    const gainR = level * Math.sin(((pan + 1) * Math.PI) / 4);
    const { left, right, sendLeft, sendRight } = this;
    for (let t = Math.max(0, -at); t < length; t++) {
      const value = sample[t];
      left[at + t] += value * gainL;
      right[at + t] += value * gainR;
      if (send > 0) {
        sendLeft[at + t] += value * gainL * send;
        sendRight[at + t] += value * gainR * send;
      }
    }
  }

  /**
   * A small Schroeder reverb: one comb bank over the summed send, decorrelated per side by different
   * all-passes. It runs at half the sample rate (the tail is dark anyway), which halves its cost.
   */
  reverb(amount: number): void {
    if (amount <= 0) return;
    const scale = this.rate / 2 / 44100;
    const half = Math.ceil(this.frames / 2);
    const input = new Float32Array(half);
    for (let i = 0; i < half; i++) {
      const j = 2 * i;
      input[i] = 0.25 * (this.sendLeft[j] + this.sendRight[j] + (this.sendLeft[j + 1] ?? 0) + (this.sendRight[j + 1] ?? 0));
    }
    const combed = new Float32Array(half);
    for (const delay of [1116, 1188, 1277, 1356]) {
      const length = Math.round(delay * scale);
      const line = new Float32Array(length);
      let index = 0;
      let damp = 0;
      for (let i = 0; i < half; i++) {
        const out = line[index];
        damp = out * 0.6 + damp * 0.4;
        line[index] = input[i] + damp * 0.84;
        combed[i] += out;
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
      const gain = amount * 0.25;
      for (let i = 0; i < this.frames; i++) {
        const position = i / 2;
        const k = position | 0;
        const next = k + 1 < half ? wet[k + 1] : wet[k];
        target[i] += (wet[k] + (next - wet[k]) * (position - k)) * gain;
      }
    };
    diffuse(this.left, [556, 441]);
    diffuse(this.right, [579, 464]);
  }
}

/** Drum one-shots rendered once per track: a pitch-swept sine kick, a noisy snare, short hats and a crash. */
function drumKit(rate: number, random: () => number) {
  const render = (seconds: number, voice: (t: number, noise: number) => number) => {
    const out = new Float32Array(Math.round(seconds * rate));
    for (let i = 0; i < out.length; i++) out[i] = voice(i / rate, random() * 2 - 1);
    return out;
  };
  let kickPhase = 0;
  const kick = render(0.35, (t) => {
    kickPhase += (48 + 110 * Math.exp(-t * 28)) / rate;
    return Math.sin(2 * Math.PI * kickPhase) * Math.exp(-t * 9);
  });
  const snare = render(0.3, (t, noise) => (noise * 0.6 + 0.5 * Math.sin(2 * Math.PI * 190 * t) * Math.exp(-t * 30)) * Math.exp(-t / 0.06));
  const hats = [0, 1, 2, 3].map(() => {
    let previous = 0;
    // A first difference tilts white noise towards the top end.
    return render(0.06, (t, noise) => {
      const bright = noise - previous;
      previous = noise;
      return bright * 0.6 * Math.exp(-t / 0.012);
    });
  });
  const crash = render(2.5, (t, noise) => {
    return noise * 0.6 * Math.exp(-t / 0.5);
  });
  return { kick, snare, hats, crash };
}

interface SectionPlan {
  startBar: number;
  bars: number;
  energy: number;
  layers: Required<SectionArrangement>;
}

function planSections(blueprint: Blueprint): SectionPlan[] {
  let bar = 0;
  const hasMelody = (blueprint.melody?.length ?? 0) > 0;
  return blueprint.sections.map((section, index) => {
    const energy = section.energy ?? 0.5;
    const given = blueprint.arrangement?.[index] ?? {};
    const plan: SectionPlan = {
      startBar: bar,
      bars: section.bars,
      energy,
      layers: {
        drums: given.drums ?? energy >= 0.4,
        bass: given.bass ?? energy >= 0.25,
        pads: given.pads ?? true,
        lead: given.lead ?? (hasMelody && energy >= 0.6),
        vocals: given.vocals ?? energy >= 0.6,
      },
    };
    bar += section.bars;
    return plan;
  });
}

/** Renders the blueprint's instrumental: drums, bass, pads and lead, shaped per section by energy and arrangement. */
export function synthesizeInstrumental(score: InstrumentalScore): [Float32Array, Float32Array] {
  const { blueprint, beatsPerBar, totalFrames, sampleRate } = score;
  const preset = stylePreset(blueprint.style);
  const mixer = new Mixer(totalFrames, sampleRate);
  const random = mulberry32(hashString(blueprint.id));
  const kit = drumKit(sampleRate, random);
  const key = parseKey(blueprint.key);
  const fallback = defaultProgression(key).map((symbol) => parseChord(symbol) as Chord);
  const chords = blueprint.chords?.length ? blueprint.chords.map((symbol, index) => parseChord(symbol) ?? fallback[index % fallback.length]) : fallback;
  const secondsPerBeat = 60 / blueprint.tempo_bpm;
  const frameAt = (beat: number) => Math.round(beat * secondsPerBeat * sampleRate);
  const sections = planSections(blueprint);

  sections.forEach((section, index) => {
    const next = sections[index + 1];
    const { energy, layers } = section;
    for (let barInSection = 0; barInSection < section.bars; barInSection++) {
      const bar = section.startBar + barInSection;
      const barBeat = bar * beatsPerBar;
      const chord = chords[barInSection % chords.length];
      const barStart = frameAt(barBeat);
      const barLength = frameAt(barBeat + beatsPerBar) - barStart;

      if (layers.pads) {
        const voicing = chord.intervals.map((interval) => 48 + ((chord.root + interval) % 12));
        if (energy >= 0.6) voicing.push(60 + chord.root);
        voicing.forEach((midi, voice) => {
          mixer.tone(
            {
              start: barStart,
              length: barLength,
              hz: midiHz(midi),
              wave: preset.padWave,
              level: (preset.padLevel * (0.3 + 0.7 * energy)) / Math.sqrt(voicing.length),
              pan: voice % 2 ? 0.35 : -0.35,
              attack: preset.padAttack,
              decay: 0.3,
              sustain: 0.85,
              release: 0.25,
              cutoff: preset.padCutoff * (0.6 + 0.6 * energy),
              detuneCents: 7,
            },
            0.6,
          );
        });
      }

      if (layers.bass) {
        const hz = midiHz(36 + chord.root);
        const step = energy >= 0.75 ? 0.5 : energy >= 0.45 ? 1 : beatsPerBar;
        for (let beat = 0; beat < beatsPerBar - 1e-9; beat += step) {
          const start = frameAt(barBeat + beat);
          const length = frameAt(barBeat + beat + step) - start;
          mixer.tone({ start, length: Math.round(length * 0.9), hz, wave: preset.bassWave, subWave: 'sine', level: 0.42 * (0.4 + 0.6 * energy), pan: 0, attack: 0.005, decay: 0.12, sustain: 0.75, release: 0.04, cutoff: 380 + 500 * energy });
        }
      }

      if (layers.drums) {
        const drum = preset.drumLevel;
        const lastBar = barInSection === section.bars - 1;
        const fill = lastBar && next !== undefined && (next.energy ?? 0.5) > energy;
        for (let beat = 0; beat < beatsPerBar; beat++) {
          const at = frameAt(barBeat + beat);
          const downbeat = beat === 0 || (beatsPerBar % 2 === 0 && beat === beatsPerBar / 2);
          if (downbeat || energy >= 0.7) mixer.hit(kit.kick, at, 0.75 * drum);
          const backbeat = beat % 2 === 1;
          if (backbeat && energy >= 0.45 && !(fill && beat === beatsPerBar - 1)) mixer.hit(kit.snare, at, 0.35 * drum, 0.05, 0.3);
          if (energy >= 0.5) {
            const subdivisions = energy >= 0.85 ? 4 : 2;
            for (let sub = 0; sub < subdivisions; sub++) {
              const offbeat = sub % 2 === 1;
              const swing = offbeat ? preset.swing : 0;
              const hatAt = frameAt(barBeat + beat + sub / subdivisions + swing / subdivisions);
              mixer.hit(kit.hats[(beat * subdivisions + sub) % kit.hats.length], hatAt, preset.hatLevel * drum * (offbeat ? 0.09 : 0.14), 0.3);
            }
          }
        }
        if (fill) {
          for (let sub = 0; sub < 4; sub++) mixer.hit(kit.snare, frameAt(barBeat + beatsPerBar - 1 + sub / 4), (0.15 + 0.06 * sub) * drum, -0.05, 0.3);
        }
        if (barInSection === 0 && energy >= 0.7) mixer.hit(kit.crash, barStart, 0.12 * drum, 0.2, 0.5);
      }
    }
  });

  const melody = blueprint.melody ?? [];
  const totalBeats = sections.reduce((sum, section) => sum + section.bars, 0) * beatsPerBar;
  for (const note of melody) {
    if (note.start_beat >= totalBeats) continue;
    const section = sections.find((plan) => note.start_beat < (plan.startBar + plan.bars) * beatsPerBar);
    if (!section?.layers.lead) continue;
    const start = frameAt(note.start_beat);
    const length = frameAt(Math.min(totalBeats, note.start_beat + note.beats)) - start;
    mixer.tone(
      {
        start,
        length,
        hz: midiHz(note.midi),
        wave: preset.leadWave,
        level: preset.leadLevel * (note.velocity ?? 0.8),
        pan: 0.1,
        attack: 0.02,
        decay: 0.15,
        sustain: 0.75,
        release: 0.12,
        cutoff: 2600,
        detuneCents: 4,
        vibrato: 0.004,
      },
      0.5,
    );
  }

  if (preset.crackle > 0) {
    for (let i = 0; i < totalFrames; i++) {
      if (random() < 0.0004) {
        const pop = (random() * 2 - 1) * preset.crackle * 20;
        mixer.left[i] += pop;
        mixer.right[i] += pop;
      }
    }
  }

  mixer.reverb(preset.reverb);
  return finish(mixer.left, mixer.right);
}

/** Soft-saturates (a Padé tanh) and scales the mix so its peak sits at −3 dBFS, leaving the mastering stage headroom. */
function finish(left: Float32Array, right: Float32Array): [Float32Array, Float32Array] {
  let peak = 0;
  for (const channel of [left, right]) {
    for (let i = 0; i < channel.length; i++) {
      const x = Math.max(-3, Math.min(3, channel[i] * 1.2));
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
  return [left, right];
}
