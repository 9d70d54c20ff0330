/** The four sound worlds the engine renders, and how a free-text style is mapped onto the nearest one. */
export type StyleName = 'cinematic' | 'anthem' | 'lofi' | 'synthwave';

export const STYLE_NAMES: readonly StyleName[] = ['cinematic', 'anthem', 'lofi', 'synthwave'];

// Words people type for a style, by the preset that sounds closest; checked in this order, first hit wins.
const STYLE_WORDS: [StyleName, RegExp][] = [
  ['lofi', /lo-?fi|chill|jazz|study|hip-?hop|boom-?bap|r&b|rnb|soul|bedroom|mellow|cozy|rainy|acoustic|indie/],
  ['synthwave', /synth|80s|eighties|retro|wave|neon|outrun|electro|edm|dance|disco|house|techno|cyber|night ?drive|arcade/],
  ['anthem', /anthem|rock|pop|stadium|punk|country|festival|victory|hype|power|triumph|sport|workout|metal|gospel/],
  ['cinematic', /cinema|film|movie|epic|orchestra|score|trailer|ambient|piano|classical|hero|adventure|fantasy|dramatic/],
];

/** The preset a style sounds like; anything unrecognised is cinematic (a main character's soundtrack). */
export function resolveStyle(style: string | null | undefined): StyleName {
  const text = (style ?? '').toLowerCase();
  for (const [name, words] of STYLE_WORDS) if (words.test(text)) return name;
  return 'cinematic';
}

/** Tempo used when the take has too few notes to show a pulse: the style's home tempo. */
export const STYLE_TEMPO: Record<StyleName, number> = { cinematic: 96, anthem: 124, lofi: 84, synthwave: 108 };

/**
 * How a pitched part plays a bar: held voicings, a broken-chord piano, power-chord guitars, a swung
 * electric-piano comp, a 16th-note arpeggio, brass or timpani hits, and four bass lines. Each reads the
 * section's energy, so the same part plays busier as the song rises.
 */
export type PartPattern = 'hold' | 'broken' | 'stabs' | 'chug' | 'comp' | 'arp' | 'brass' | 'timpani' | 'root-bass' | 'picked-bass' | 'jazz-bass' | 'octave-bass';

/** One instrument of a style: its General MIDI program, what it plays, from which energy, where it sits. */
export interface StylePart {
  name: string;
  /** GM program, 0-based (0 grand piano, 4 electric piano, 29 overdrive guitar, 48 strings …). */
  program: number;
  role: 'chords' | 'pad' | 'counter' | 'arp' | 'bass' | 'percussion';
  /** The arrangement layer that switches it on and off. */
  layer: 'pads' | 'bass' | 'drums';
  pattern: PartPattern;
  /** Lowest section energy it plays in; the rise to the chorus adds parts. */
  from: number;
  /** Energy from which it drops out, handing over to the bigger parts (the cinematic piano leaves the chorus to the orchestra). */
  until?: number;
  /** Range of its voicing, MIDI notes. */
  register: [number, number];
  pan: number;
  volume: number;
  reverb: number;
  /** Release time (GS CC 72): 64 as sampled, lower rings shorter, keeping the mix clear. */
  release?: number;
}

/** A bar of drums: 16 steps per GM drum note, `x` a hit, `o` a softer one. */
export type DrumBar = Record<number, string>;

export interface StyleDrums {
  /** GS drum kit on the percussion channel: 0 standard, 8 room, 24 electronic, 32 jazz (kits whose kick sits under the bass register, so the key reads clearly). */
  kit: number;
  calm: DrumBar;
  busy: DrumBar;
  /** Fills into a new section: a run down the toms or a snare roll. */
  fill: 'toms' | 'snare';
  volume: number;
  reverb: number;
}

/** The render chain after the sampler: our own reverb (the synthesiser's is off), and each style's colour. */
export interface StyleChain {
  /** Reverb decay, seconds, and its return level. */
  reverbSeconds: number;
  reverbLevel: number;
  /** A gentle low-pass over the whole instrumental (lofi's muffled tape). */
  lowpassHz?: number;
  /** An air shelf above 5 kHz, dB: the sheen an orchestra or a synth stack gets in mastering. */
  air?: number;
  /** Level of vinyl crackle and hiss under the music. */
  vinyl?: number;
  /** The 1980s snare: a big reverb cut off after a fixed time. */
  gatedSnare?: boolean;
}

export interface StyleSound {
  parts: StylePart[];
  lead: { name: string; program: number; pan: number; volume: number; reverb: number; release?: number };
  drums: StyleDrums;
  /** Delay of off-beat 8ths as a fraction of an 8th: 0 straight, ~0.33 a triplet feel. */
  swing: number;
  chain: StyleChain;
}

// GM drum notes.
const KICK = 36;
const SIDE_STICK = 37;
const SNARE = 38;
const CLAP = 39;
const CLOSED_HAT = 42;
const OPEN_HAT = 46;
const LOW_TOM = 41;
const MID_TOM = 45;
const RIDE = 51;
const TAMBOURINE = 54;

/** Each style as a band: its instruments, drum kit and patterns, feel and render chain. */
export const STYLE_SOUNDS: Record<StyleName, StyleSound> = {
  cinematic: {
    parts: [
      { name: 'Strings', program: 48, role: 'pad', layer: 'pads', pattern: 'hold', from: 0, register: [50, 74], pan: -0.35, volume: 0.82, reverb: 0.55, release: 48 },
      { name: 'Piano', program: 0, role: 'chords', layer: 'pads', pattern: 'broken', from: 0, until: 0.8, register: [48, 79], pan: 0.3, volume: 0.7, reverb: 0.4, release: 52 },
      { name: 'Choir', program: 52, role: 'pad', layer: 'pads', pattern: 'hold', from: 0.8, register: [60, 79], pan: 0.35, volume: 0.62, reverb: 0.6, release: 48 },
      { name: 'String ostinato', program: 48, role: 'arp', layer: 'pads', pattern: 'arp', from: 0.7, register: [62, 86], pan: 0.5, volume: 0.62, reverb: 0.45, release: 24 },
      { name: 'Low brass', program: 57, role: 'counter', layer: 'pads', pattern: 'brass', from: 0.7, register: [43, 62], pan: -0.15, volume: 0.45, reverb: 0.45, release: 48 },
      { name: 'Timpani', program: 47, role: 'percussion', layer: 'drums', pattern: 'timpani', from: 0.5, register: [40, 55], pan: 0.1, volume: 0.65, reverb: 0.4 },
      { name: 'Contrabass', program: 43, role: 'bass', layer: 'bass', pattern: 'root-bass', from: 0, register: [36, 47], pan: 0, volume: 0.72, reverb: 0.3, release: 56 },
    ],
    lead: { name: 'Trumpet (hummed tune)', program: 56, pan: 0.05, volume: 0.9, reverb: 0.4, release: 48 },
    drums: {
      kit: 0,
      calm: { [KICK]: 'x...............', [LOW_TOM]: 'x.......x.......' },
      busy: { [KICK]: 'x...............', [LOW_TOM]: 'x..x..x.x.o.x.oo', [MID_TOM]: '......o.......o.', [SNARE]: '........x.......', [TAMBOURINE]: 'o.o.x.o.o.o.x.o.', [RIDE]: '..x...x...x...x.' },
      fill: 'toms',
      volume: 0.85,
      reverb: 0.45,
    },
    swing: 0,
    chain: { reverbSeconds: 2.6, reverbLevel: 0.5, air: 2.5 },
  },
  anthem: {
    parts: [
      { name: 'Guitar L', program: 29, role: 'chords', layer: 'pads', pattern: 'chug', from: 0.45, register: [40, 64], pan: -0.75, volume: 0.62, reverb: 0.15, release: 48 },
      { name: 'Guitar R', program: 29, role: 'chords', layer: 'pads', pattern: 'chug', from: 0.7, register: [40, 64], pan: 0.75, volume: 0.6, reverb: 0.15, release: 48 },
      { name: 'Piano', program: 0, role: 'pad', layer: 'pads', pattern: 'stabs', from: 0, register: [55, 79], pan: 0.2, volume: 0.7, reverb: 0.3, release: 52 },
      { name: 'Picked bass', program: 34, role: 'bass', layer: 'bass', pattern: 'picked-bass', from: 0, register: [36, 47], pan: 0, volume: 0.8, reverb: 0.05, release: 56 },
    ],
    lead: { name: 'Clean lead guitar (hummed tune)', program: 27, pan: 0.05, volume: 0.72, reverb: 0.3, release: 48 },
    drums: {
      kit: 8,
      calm: { [KICK]: 'x.......x.x.....', [SNARE]: '....x.......x...', [CLOSED_HAT]: 'x.o.x.o.x.o.x.o.' },
      busy: { [KICK]: 'x.....x.x.x.....', [SNARE]: '....x.......x...', [CLOSED_HAT]: 'x.o.x.o.x.o.x...', [OPEN_HAT]: '..............x.' },
      fill: 'toms',
      volume: 0.95,
      reverb: 0.2,
    },
    swing: 0,
    chain: { reverbSeconds: 1.4, reverbLevel: 0.35 },
  },
  lofi: {
    parts: [
      { name: 'Electric piano', program: 4, role: 'chords', layer: 'pads', pattern: 'comp', from: 0, register: [52, 74], pan: -0.3, volume: 0.85, reverb: 0.3, release: 56 },
      { name: 'Upright bass', program: 32, role: 'bass', layer: 'bass', pattern: 'jazz-bass', from: 0, register: [36, 47], pan: 0.05, volume: 0.85, reverb: 0.05, release: 56 },
    ],
    lead: { name: 'Clarinet (hummed tune)', program: 71, pan: 0.3, volume: 0.8, reverb: 0.35, release: 48 },
    drums: {
      kit: 32,
      calm: { [KICK]: 'x......x..x.....', [SIDE_STICK]: '....x.......x...', [CLOSED_HAT]: 'x.o.x.o.x.o.x.o.' },
      busy: { [KICK]: 'x......x.xx.....', [SNARE]: '....x.......x..o', [CLOSED_HAT]: 'x.oox.o.x.oox.o.' },
      fill: 'snare',
      volume: 0.85,
      reverb: 0.15,
    },
    swing: 0.33,
    chain: { reverbSeconds: 1.2, reverbLevel: 0.3, lowpassHz: 6500, vinyl: 0.01 },
  },
  synthwave: {
    parts: [
      { name: 'String pad', program: 50, role: 'pad', layer: 'pads', pattern: 'hold', from: 0, register: [52, 76], pan: -0.4, volume: 0.75, reverb: 0.5, release: 44 },
      { name: 'Poly synth', program: 90, role: 'pad', layer: 'pads', pattern: 'hold', from: 0.7, register: [60, 84], pan: 0.4, volume: 0.62, reverb: 0.55, release: 44 },
      { name: 'Arpeggio', program: 80, role: 'arp', layer: 'pads', pattern: 'arp', from: 0.5, register: [60, 84], pan: 0.45, volume: 0.45, reverb: 0.35, release: 32 },
      { name: 'Synth bass', program: 38, role: 'bass', layer: 'bass', pattern: 'octave-bass', from: 0, register: [36, 47], pan: 0, volume: 0.62, reverb: 0.05, release: 48 },
    ],
    lead: { name: 'Saw lead (hummed tune)', program: 81, pan: -0.05, volume: 0.62, reverb: 0.45, release: 48 },
    drums: {
      kit: 24,
      calm: { [KICK]: 'x...x...x...x...', [SNARE]: '....x.......x...', [CLOSED_HAT]: '..x...x...x...x.' },
      busy: { [KICK]: 'x...x...x...x...', [SNARE]: '....x.......x...', [CLAP]: '....x.......x...', [CLOSED_HAT]: 'oxo.oxo.oxo.oxo.', [OPEN_HAT]: '..x...x...x...x.' },
      fill: 'snare',
      volume: 0.9,
      reverb: 0.1,
    },
    swing: 0,
    chain: { reverbSeconds: 2.2, reverbLevel: 0.45, gatedSnare: true, air: 4.5 },
  },
};
