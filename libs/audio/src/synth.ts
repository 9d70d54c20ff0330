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

function oscillator(wave: Wave, phase: number): number {
  switch (wave) {
    case 'saw':
      return 2 * phase - 1;
    case 'square':
      return phase < 0.5 ? 0.8 : -0.8;
    case 'triangle':
      return 4 * Math.abs(phase - 0.5) - 1;
    default:
      return Math.sin(2 * Math.PI * phase);
  }
}

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
    const stepA = (spec.hz * detune) / rate;
    const stepB = spec.hz / detune / rate;
    const alpha = 1 - Math.exp((-2 * Math.PI * Math.min(spec.cutoff, rate * 0.45)) / rate);
    const gainL = spec.level * Math.cos(((spec.pan + 1) * Math.PI) / 4);
    const gainR = spec.level * Math.sin(((spec.pan + 1) * Math.PI) / 4);
    let phaseA = 0;
    let phaseB = 0.37;
    let filtered = 0;
    let releaseFrom = 0;
    for (let i = Math.max(0, spec.start); i < end; i++) {
      const t = i - spec.start;
      let env: number;
      if (t < spec.length) {
        env = t < attack ? t / attack : t < attack + decay ? 1 - ((1 - spec.sustain) * (t - attack)) / decay : spec.sustain;
        releaseFrom = env;
      } else {
        env = releaseFrom * (1 - (t - spec.length) / release);
      }
      const wobble = spec.vibrato && t > rate * 0.15 ? 1 + spec.vibrato * Math.sin((2 * Math.PI * 5.2 * t) / rate) : 1;
      phaseA += stepA * wobble;
      phaseB += stepB * wobble;
      phaseA -= Math.floor(phaseA);
      phaseB -= Math.floor(phaseB);
      const raw = 0.5 * (oscillator(spec.wave, phaseA) + oscillator(spec.wave, phaseB));
      filtered += alpha * (raw - filtered);
      const sample = filtered * env;
      this.left[i] += sample * gainL;
      this.right[i] += sample * gainR;
      if (send > 0) {
        this.sendLeft[i] += sample * gainL * send;
        this.sendRight[i] += sample * gainR * send;
      }
    }
  }

  kick(at: number, level: number): void {
    const length = Math.min(this.frames - at, Math.round(0.35 * this.rate));
    let phase = 0;
    for (let t = 0; t < length; t++) {
      const seconds = t / this.rate;
      const hz = 48 + 110 * Math.exp(-seconds * 28);
      phase += hz / this.rate;
      const sample = Math.sin(2 * Math.PI * phase) * Math.exp(-seconds * 9) * level;
      this.left[at + t] += sample;
      this.right[at + t] += sample;
    }
  }

  noiseHit(at: number, level: number, decaySeconds: number, brightness: number, random: () => number, pan = 0, toneHz = 0, send = 0): void {
    const length = Math.min(this.frames - at, Math.round(decaySeconds * 5 * this.rate));
    const gainL = level * Math.cos(((pan + 1) * Math.PI) / 4);
    const gainR = level * Math.sin(((pan + 1) * Math.PI) / 4);
    let previous = 0;
    for (let t = 0; t < length; t++) {
      const seconds = t / this.rate;
      const white = random() * 2 - 1;
      // A first difference tilts white noise towards the top for hats; brightness 0 keeps it full-band.
      const noise = brightness * (white - previous) + (1 - brightness) * white;
      previous = white;
      const body = toneHz ? 0.5 * Math.sin(2 * Math.PI * toneHz * seconds) * Math.exp(-seconds * 30) : 0;
      const sample = (noise * 0.6 + body) * Math.exp(-seconds / decaySeconds);
      this.left[at + t] += sample * gainL;
      this.right[at + t] += sample * gainR;
      if (send > 0) {
        this.sendLeft[at + t] += sample * gainL * send;
        this.sendRight[at + t] += sample * gainR * send;
      }
    }
  }

  /** A small Schroeder reverb (parallel combs, series all-passes) over the send bus, different per side. */
  reverb(amount: number): void {
    if (amount <= 0) return;
    const scale = this.rate / 44100;
    const process = (input: Float32Array, output: Float32Array, offsets: number[]) => {
      const wet = new Float32Array(this.frames);
      for (const delaySamples of offsets.map((d) => Math.round(d * scale))) {
        const line = new Float32Array(delaySamples);
        let index = 0;
        let damp = 0;
        for (let i = 0; i < this.frames; i++) {
          const out = line[index];
          damp = out * 0.7 + damp * 0.3;
          line[index] = input[i] + damp * 0.8;
          wet[i] += out;
          index = index + 1 === delaySamples ? 0 : index + 1;
        }
      }
      for (const delaySamples of [556, 441].map((d) => Math.round(d * scale))) {
        const line = new Float32Array(delaySamples);
        let index = 0;
        for (let i = 0; i < this.frames; i++) {
          const buffered = line[index];
          const value = wet[i] + buffered * -0.5;
          line[index] = value;
          wet[i] = buffered + value * 0.5;
          index = index + 1 === delaySamples ? 0 : index + 1;
        }
      }
      for (let i = 0; i < this.frames; i++) output[i] += wet[i] * amount * 0.25;
    };
    process(this.sendLeft, this.left, [1116, 1188, 1277, 1356]);
    process(this.sendRight, this.right, [1139, 1211, 1300, 1379]);
  }
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
        drums: given.drums ?? energy >= 0.3,
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
              level: (preset.padLevel * (0.55 + 0.45 * energy)) / Math.sqrt(voicing.length),
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
          mixer.tone({ start, length: Math.round(length * 0.9), hz, wave: preset.bassWave, level: 0.32, pan: 0, attack: 0.005, decay: 0.12, sustain: 0.7, release: 0.04, cutoff: 380 + 500 * energy });
          mixer.tone({ start, length: Math.round(length * 0.9), hz, wave: 'sine', level: 0.22, pan: 0, attack: 0.005, decay: 0.1, sustain: 0.9, release: 0.04, cutoff: 2000 });
        }
      }

      if (layers.drums) {
        const drum = preset.drumLevel;
        const lastBar = barInSection === section.bars - 1;
        const fill = lastBar && next !== undefined && (next.energy ?? 0.5) > energy;
        for (let beat = 0; beat < beatsPerBar; beat++) {
          const at = frameAt(barBeat + beat);
          const downbeat = beat === 0 || (beatsPerBar % 2 === 0 && beat === beatsPerBar / 2);
          if (downbeat || energy >= 0.7) mixer.kick(at, 0.75 * drum);
          const backbeat = beat % 2 === 1;
          if (backbeat && energy >= 0.45 && !(fill && beat === beatsPerBar - 1)) mixer.noiseHit(at, 0.35 * drum, 0.06, 0.2, random, 0.05, 190, 0.3);
          if (energy >= 0.5) {
            const subdivisions = energy >= 0.85 ? 4 : 2;
            for (let sub = 0; sub < subdivisions; sub++) {
              const offbeat = sub % 2 === 1;
              const swing = offbeat ? preset.swing : 0;
              const hatAt = frameAt(barBeat + beat + sub / subdivisions + swing / subdivisions);
              mixer.noiseHit(hatAt, preset.hatLevel * drum * (offbeat ? 0.09 : 0.14), 0.012, 0.95, random, 0.3);
            }
          }
        }
        if (fill) {
          for (let sub = 0; sub < 4; sub++) mixer.noiseHit(frameAt(barBeat + beatsPerBar - 1 + sub / 4), (0.15 + 0.06 * sub) * drum, 0.05, 0.2, random, -0.05, 200, 0.3);
        }
        if (barInSection === 0 && energy >= 0.7) mixer.noiseHit(barStart, 0.12 * drum, 0.5, 0.7, random, 0.2, 0, 0.5);
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

/** Soft-saturates and scales the mix so its peak sits at −3 dBFS, leaving the mastering stage headroom. */
function finish(left: Float32Array, right: Float32Array): [Float32Array, Float32Array] {
  let peak = 0;
  for (let i = 0; i < left.length; i++) {
    left[i] = Math.tanh(left[i] * 1.2);
    right[i] = Math.tanh(right[i] * 1.2);
    peak = Math.max(peak, Math.abs(left[i]), Math.abs(right[i]));
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
