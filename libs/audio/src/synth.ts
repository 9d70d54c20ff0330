import type { Blueprint, SectionArrangement } from '@mcm/pipeline';
import { parseChord, parseKey, styleProgression, type Chord } from './harmony';
import { resolveStyle, type StyleName } from './styles';

/** Everything the synthesiser needs; the caller resolves the time signature and the exact length. */
export interface InstrumentalScore {
  blueprint: Blueprint;
  beatsPerBar: number;
  totalFrames: number;
  sampleRate: number;
}

type Wave = 'saw' | 'square' | 'triangle' | 'sine';

type DrumPattern = 'toms' | 'rock' | 'four' | 'boombap';
type BassPattern = 'sustain' | 'eighths' | 'octaves' | 'boombap';
type ChordPattern = 'swell' | 'sustain' | 'comp';

interface StylePreset {
  name: StyleName;
  padWave: Wave;
  padSubWave?: Wave;
  padCutoff: number;
  padAttack: number;
  padRelease: number;
  padLevel: number;
  chordPattern: ChordPattern;
  bassWave: Wave;
  bassPattern: BassPattern;
  bassCutoff: number;
  leadWave: Wave;
  leadLevel: number;
  leadCutoff: number;
  leadVibrato: number;
  drums: DrumPattern;
  drumLevel: number;
  hatLevel: number;
  /** Delay of off-beat 8ths as a fraction of an 8th: 0 straight, ~0.33 a triplet feel. */
  swing: number;
  /** 16th-note arpeggio of the chord (synthwave); 0 turns it off. */
  arpLevel: number;
  /** A high string section an octave over the pads in loud sections (cinematic). */
  stringsLevel: number;
  reverb: number;
  crackle: number;
  /** Ceiling of the whole-mix low-pass that opens with a section's energy. */
  brightness: number;
}

const PRESETS: Record<StyleName, StylePreset> = {
  cinematic: {
    name: 'cinematic', padWave: 'saw', padCutoff: 1500, padAttack: 0.6, padRelease: 0.6, padLevel: 0.16, chordPattern: 'swell',
    bassWave: 'saw', bassPattern: 'sustain', bassCutoff: 420, leadWave: 'triangle', leadLevel: 0.24, leadCutoff: 3000, leadVibrato: 0.005,
    drums: 'toms', drumLevel: 0.9, hatLevel: 0.25, swing: 0, arpLevel: 0, stringsLevel: 0.09, reverb: 0.45, crackle: 0, brightness: 9000,
  },
  anthem: {
    name: 'anthem', padWave: 'saw', padSubWave: 'square', padCutoff: 3400, padAttack: 0.02, padRelease: 0.12, padLevel: 0.14, chordPattern: 'sustain',
    bassWave: 'saw', bassPattern: 'eighths', bassCutoff: 700, leadWave: 'saw', leadLevel: 0.17, leadCutoff: 4200, leadVibrato: 0.004,
    drums: 'rock', drumLevel: 1, hatLevel: 0.75, swing: 0, arpLevel: 0, stringsLevel: 0, reverb: 0.22, crackle: 0, brightness: 14000,
  },
  lofi: {
    name: 'lofi', padWave: 'sine', padSubWave: 'triangle', padCutoff: 1300, padAttack: 0.01, padRelease: 0.3, padLevel: 0.28, chordPattern: 'comp',
    bassWave: 'sine', bassPattern: 'boombap', bassCutoff: 300, leadWave: 'sine', leadLevel: 0.26, leadCutoff: 1800, leadVibrato: 0.003,
    drums: 'boombap', drumLevel: 0.8, hatLevel: 0.5, swing: 0.33, arpLevel: 0, stringsLevel: 0, reverb: 0.15, crackle: 0.004, brightness: 4200,
  },
  synthwave: {
    name: 'synthwave', padWave: 'square', padCutoff: 2200, padAttack: 0.15, padRelease: 0.3, padLevel: 0.1, chordPattern: 'sustain',
    bassWave: 'square', bassPattern: 'octaves', bassCutoff: 900, leadWave: 'saw', leadLevel: 0.16, leadCutoff: 3600, leadVibrato: 0.006,
    drums: 'four', drumLevel: 0.95, hatLevel: 0.6, swing: 0, arpLevel: 0.07, stringsLevel: 0, reverb: 0.35, crackle: 0, brightness: 12000,
  },
};

/** Picks a timbre preset from the free-text style; anything unrecognised sounds cinematic. */
export function stylePreset(style: string): StylePreset {
  return PRESETS[resolveStyle(style)];
}

/** 16-step bar patterns per drum style: `x` a hit, `o` a softer one; a section's energy picks the busy or the calm one. */
const DRUM_PATTERNS: Record<DrumPattern, { calm: Record<string, string>; busy: Record<string, string> }> = {
  toms: {
    calm: { tom: 'x.......x.......', kick: 'x...............', hat: '' },
    busy: { tom: 'x..x..x.x.o.x.oo', kick: 'x.......x.......', snare: '........x.......', hat: 'o...o...o...o...' },
  },
  rock: {
    calm: { kick: 'x.......x.x.....', snare: '....x.......x...', hat: 'x.x.x.x.x.x.x.x.' },
    busy: { kick: 'x...x...x...x.x.', snare: '....x.......x...', hat: 'x.o.x.o.x.o.x.o.' },
  },
  four: {
    calm: { kick: 'x...x...x...x...', snare: '....x.......x...', hat: '..x...x...x...x.' },
    busy: { kick: 'x...x...x...x...', snare: '....x.......x...', hat: 'oxoxoxoxoxoxoxox' },
  },
  boombap: {
    calm: { kick: 'x......x..x.....', snare: '....x.......x...', hat: 'x.o.x.o.x.o.x.o.' },
    busy: { kick: 'x......x.xx.....', snare: '....x.......x..o', hat: 'x.o.x.o.x.o.x.o.' },
  },
};

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

  clampFrame(frame: number): number {
    return Math.max(0, Math.min(this.frames, frame));
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
  let tomPhase = 0;
  // A big low tom (taiko-like): a slow pitch fall from 120 to 70 Hz with a long body and a noisy skin.
  const tom = render(0.9, (t, noise) => {
    tomPhase += (70 + 50 * Math.exp(-t * 12)) / rate;
    return (Math.sin(2 * Math.PI * tomPhase) * 0.9 + noise * 0.25 * Math.exp(-t * 40)) * Math.exp(-t * 4.5);
  });
  return { kick, snare, hats, crash, tom };
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

/** Renders the blueprint's instrumental: drums, bass, chords and lead in the style's sound, shaped per section by energy and arrangement. */
export function synthesizeInstrumental(score: InstrumentalScore): [Float32Array, Float32Array] {
  const { blueprint, beatsPerBar, totalFrames, sampleRate } = score;
  const preset = stylePreset(blueprint.style);
  const mixer = new Mixer(totalFrames, sampleRate);
  const random = mulberry32(hashString(blueprint.id));
  const kit = drumKit(sampleRate, random);
  const key = parseKey(blueprint.key);
  const fallback = styleProgression(key, preset.name).map((symbol) => parseChord(symbol) as Chord);
  const chords = blueprint.chords?.length ? blueprint.chords.map((symbol, index) => parseChord(symbol) ?? fallback[index % fallback.length]) : fallback;
  const tonicChord = chords.find((chord) => chord.root === key.tonic) ?? chords[0];
  const secondsPerBeat = 60 / blueprint.tempo_bpm;
  // A 16th's position in beats after swing: off-beat 8ths are pushed late by the preset's swing.
  const swung = (sixteenth: number) => sixteenth / 4 + (sixteenth % 4 === 2 ? preset.swing / 2 : 0);
  const frameAt = (beat: number) => Math.round(beat * secondsPerBeat * sampleRate);
  const sections = planSections(blueprint);
  const totalBars = sections.reduce((sum, section) => sum + section.bars, 0);
  const energyAtBar: number[] = [];

  sections.forEach((section, index) => {
    const next = sections[index + 1];
    const { energy, layers } = section;
    for (let barInSection = 0; barInSection < section.bars; barInSection++) {
      const bar = section.startBar + barInSection;
      energyAtBar[bar] = energy;
      const barBeat = bar * beatsPerBar;
      // The song's last bar comes home to the tonic.
      const chord = bar === totalBars - 1 ? tonicChord : chords[barInSection % chords.length];
      const barStart = frameAt(barBeat);
      const barLength = frameAt(barBeat + beatsPerBar) - barStart;
      const lastBar = barInSection === section.bars - 1;
      const fill = lastBar && next !== undefined && next.energy > energy;

      if (layers.pads) renderChords(mixer, preset, chord, energy, barBeat, beatsPerBar, frameAt, swung);
      if (layers.pads && preset.stringsLevel > 0 && energy >= 0.6) {
        const voicing = [0, ...chord.intervals.slice(1, 3)].map((interval) => 72 + ((chord.root + interval) % 12));
        voicing.forEach((midi, voice) =>
          mixer.tone(
            { start: barStart, length: barLength, hz: midiHz(midi), wave: 'saw', level: preset.stringsLevel * energy, pan: voice - 1, attack: 0.35, decay: 0.4, sustain: 0.9, release: 0.5, cutoff: 3200, detuneCents: 9, vibrato: 0.003 },
            0.8,
          ),
        );
      }
      if (layers.pads && preset.arpLevel > 0 && energy >= 0.5) {
        const tones = [...chord.intervals.slice(0, 3), 12].map((interval) => 60 + ((chord.root + interval) % 12) + (interval >= 12 ? 12 : 0));
        const step = energy >= 0.75 ? 0.25 : 0.5;
        for (let i = 0; i * step < beatsPerBar - 1e-9; i++) {
          const start = frameAt(barBeat + i * step);
          mixer.tone(
            { start, length: frameAt(barBeat + (i + 0.7) * step) - start, hz: midiHz(tones[i % tones.length]), wave: 'saw', level: preset.arpLevel * (0.6 + 0.5 * energy), pan: i % 2 ? 0.45 : -0.45, attack: 0.003, decay: 0.08, sustain: 0.4, release: 0.05, cutoff: 1200 + 3000 * energy },
            0.5,
          );
        }
      }
      if (layers.bass) renderBass(mixer, preset, chord, energy, barBeat, beatsPerBar, frameAt, swung);
      if (layers.drums) renderDrums(mixer, kit, preset, energy, barBeat, beatsPerBar, fill, barInSection === 0, frameAt, swung);
    }
  });

  const melody = blueprint.melody ?? [];
  const totalBeats = totalBars * beatsPerBar;
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
        level: preset.leadLevel * (note.velocity ?? 0.8) * (0.7 + 0.3 * section.energy),
        pan: 0.1,
        attack: 0.02,
        decay: 0.15,
        sustain: 0.75,
        release: 0.12,
        cutoff: preset.leadCutoff * (0.6 + 0.4 * section.energy),
        detuneCents: 4,
        vibrato: preset.leadVibrato,
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

  sectionFilter(mixer, energyAtBar, (bar) => frameAt(bar * beatsPerBar), preset.brightness);
  mixer.reverb(preset.reverb);
  return finish(mixer.left, mixer.right);
}

type FrameAt = (beat: number) => number;
type Swung = (sixteenth: number) => number;

/** Chords per style: slow swells (cinematic), held bright stacks (anthem, synthwave), or a swung electric-piano comp (lofi). */
function renderChords(mixer: Mixer, preset: StylePreset, chord: Chord, energy: number, barBeat: number, beatsPerBar: number, frameAt: FrameAt, swung: Swung): void {
  const voicing = chord.intervals.map((interval) => 48 + ((chord.root + interval) % 12));
  if (energy >= 0.6) voicing.push(60 + chord.root);
  const level = (preset.padLevel * (0.3 + 0.7 * energy)) / Math.sqrt(voicing.length);
  const cutoff = preset.padCutoff * (0.6 + 0.6 * energy);
  // The comp strikes on 1 and the swung "and" of 2 (plus beat 4 when busy); the other styles hold the bar.
  const strikes = preset.chordPattern === 'comp' ? (energy >= 0.7 ? [0, 6, 12] : [0, 6]).filter((s) => s < beatsPerBar * 4) : [0];
  strikes.forEach((sixteenth, index) => {
    const from = barBeat + swung(sixteenth);
    const to = index + 1 < strikes.length ? barBeat + swung(strikes[index + 1]) : barBeat + beatsPerBar;
    const start = mixer.clampFrame(frameAt(from));
    const length = frameAt(to) - start;
    voicing.forEach((midi, voice) => {
      mixer.tone(
        {
          start,
          length: preset.chordPattern === 'comp' ? Math.round(length * 0.85) : length,
          hz: midiHz(midi),
          wave: preset.padWave,
          subWave: preset.padSubWave,
          level,
          pan: voice % 2 ? 0.35 : -0.35,
          attack: preset.chordPattern === 'swell' ? preset.padAttack * (1.4 - energy) : preset.padAttack,
          decay: preset.chordPattern === 'comp' ? 0.6 : 0.3,
          sustain: preset.chordPattern === 'comp' ? 0.35 : 0.85,
          release: preset.padRelease,
          cutoff,
          detuneCents: preset.chordPattern === 'comp' ? 3 : 7,
          vibrato: preset.chordPattern === 'comp' ? 0.002 : 0,
        },
        0.6,
      );
    });
  });
}

/** Bass lines per style: held roots (cinematic), driving 8ths (anthem), octave 8ths (synthwave), a swung root–fifth figure (lofi). */
function renderBass(mixer: Mixer, preset: StylePreset, chord: Chord, energy: number, barBeat: number, beatsPerBar: number, frameAt: FrameAt, swung: Swung): void {
  const root = 36 + chord.root;
  const fifth = root + (chord.intervals[2] ?? 7);
  let notes: { at: number; beats: number; midi: number }[];
  const eighths = (pick: (i: number) => number) => Array.from({ length: beatsPerBar * 2 }, (_, i) => ({ at: i / 2, beats: 0.5, midi: pick(i) }));
  switch (preset.bassPattern) {
    case 'eighths':
      notes = energy >= 0.5 ? eighths(() => root) : [{ at: 0, beats: beatsPerBar / 2, midi: root }, { at: beatsPerBar / 2, beats: beatsPerBar / 2, midi: root }];
      break;
    case 'octaves':
      notes = energy >= 0.5 ? eighths((i) => root + (i % 2 ? 12 : 0)) : [{ at: 0, beats: beatsPerBar, midi: root }];
      break;
    case 'boombap':
      notes = [{ at: 0, beats: 1.5, midi: root }, { at: swung(6), beats: 1, midi: root }, { at: 2.5, beats: 1, midi: fifth }].filter((note) => note.at < beatsPerBar);
      break;
    default:
      notes = energy >= 0.75 ? [{ at: 0, beats: beatsPerBar / 2, midi: root }, { at: beatsPerBar / 2, beats: beatsPerBar / 2, midi: root }] : [{ at: 0, beats: beatsPerBar, midi: root }];
  }
  for (const note of notes) {
    const start = frameAt(barBeat + note.at);
    const length = frameAt(barBeat + note.at + note.beats) - start;
    mixer.tone({
      start,
      length: Math.round(length * 0.9),
      hz: midiHz(note.midi),
      wave: preset.bassWave,
      subWave: 'sine',
      level: 0.42 * (0.4 + 0.6 * energy),
      pan: 0,
      attack: 0.005,
      decay: 0.12,
      sustain: preset.bassPattern === 'sustain' ? 0.85 : 0.7,
      release: 0.04,
      cutoff: preset.bassCutoff * (0.6 + 0.8 * energy),
    });
  }
}

type DrumKit = ReturnType<typeof drumKit>;

/** One bar of the style's drum pattern (calm or busy by energy), a snare or tom fill before a lift, a crash on a loud section's first bar. */
function renderDrums(mixer: Mixer, kit: DrumKit, preset: StylePreset, energy: number, barBeat: number, beatsPerBar: number, fill: boolean, firstBar: boolean, frameAt: FrameAt, swung: Swung): void {
  const drum = preset.drumLevel;
  const pattern = DRUM_PATTERNS[preset.drums][energy >= 0.7 ? 'busy' : 'calm'];
  const steps = beatsPerBar * 4;
  const fillFrom = fill ? steps - 4 : steps;
  const play = (voice: string | undefined, sixteenth: number) => {
    const mark = voice?.[sixteenth % 16];
    return mark === 'x' ? 1 : mark === 'o' ? 0.55 : 0;
  };
  for (let step = 0; step < steps; step++) {
    const at = frameAt(barBeat + swung(step));
    const kick = play(pattern.kick, step);
    if (kick) mixer.hit(kit.kick, at, 0.75 * drum * kick);
    if (step >= fillFrom) continue;
    const snare = play(pattern.snare, step);
    if (snare && energy >= 0.45) mixer.hit(kit.snare, at, 0.35 * drum * snare, 0.05, preset.drums === 'four' ? 0.7 : 0.3);
    const tom = play(pattern.tom, step);
    if (tom) mixer.hit(kit.tom, at, 0.5 * drum * tom * (0.6 + 0.5 * energy), -0.1, 0.6);
    const hat = play(pattern.hat, step);
    if (hat && energy >= 0.5) mixer.hit(kit.hats[step % kit.hats.length], at, preset.hatLevel * drum * 0.13 * hat, 0.3);
  }
  if (fill) {
    const fillVoice = preset.drums === 'toms' ? kit.tom : kit.snare;
    for (let sub = 0; sub < 4; sub++) mixer.hit(fillVoice, frameAt(barBeat + beatsPerBar - 1 + sub / 4), (0.15 + 0.06 * sub) * drum * (preset.drums === 'toms' ? 2 : 1), -0.05, 0.3);
  }
  if (firstBar && energy >= 0.7) mixer.hit(kit.crash, frameAt(barBeat), 0.12 * drum, 0.2, 0.5);
}

/**
 * A 12 dB/octave low-pass over the dry mix whose cutoff follows each bar's energy (glided over ~0.3 s):
 * quiet sections sound muffled and distant, the chorus opens up to the style's full brightness.
 */
function sectionFilter(mixer: Mixer, energyAtBar: number[], barFrame: (bar: number) => number, brightness: number): void {
  const { rate } = mixer;
  const glide = 1 - Math.exp(-1 / (0.3 * rate));
  let alpha = -1;
  const stateL = [0, 0];
  const stateR = [0, 0];
  const { left, right } = mixer;
  for (let bar = 0; bar < energyAtBar.length; bar++) {
    const energy = energyAtBar[bar] ?? 0.5;
    const cutoff = Math.min(brightness, 500 * 2 ** (energy * 5.5));
    const target = 1 - Math.exp((-2 * Math.PI * cutoff) / rate);
    if (alpha < 0) alpha = target;
    const end = bar + 1 < energyAtBar.length ? Math.min(mixer.frames, barFrame(bar + 1)) : mixer.frames;
    for (let i = Math.max(0, barFrame(bar)); i < end; i++) {
      alpha += (target - alpha) * glide;
      stateL[0] += alpha * (left[i] - stateL[0]);
      stateL[1] += alpha * (stateL[0] - stateL[1]);
      left[i] = stateL[1];
      stateR[0] += alpha * (right[i] - stateR[0]);
      stateR[1] += alpha * (stateR[0] - stateR[1]);
      right[i] = stateR[1];
    }
  }
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
