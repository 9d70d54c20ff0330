import Ajv2020, { type ErrorObject } from 'ajv/dist/2020';

/**
 * The blueprint contract (SPEC §5). The original fields keep their original rules;
 * `melody`, `chords`, `arrangement` and `mix` are this service's optional additions.
 */
export const BLUEPRINT_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://main-character.app/schemas/blueprint.json',
  title: 'Blueprint',
  description: 'Everything needed to render a moment: tempo, key, sections, lyrics and voice.',
  type: 'object',
  additionalProperties: false,
  required: ['id', 'style', 'tempo_bpm', 'key', 'sections', 'lyrics', 'voice'],
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 128 },
    style: { type: 'string', minLength: 1, maxLength: 120 },
    tempo_bpm: { type: 'integer', minimum: 40, maximum: 220 },
    key: { type: 'string', pattern: '^[A-G](#|b)?m?$' },
    time_signature: { type: 'string', pattern: '^[1-9][0-9]?/[1-9][0-9]?$', default: '4/4' },
    sections: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'bars'],
        properties: {
          name: { type: 'string', minLength: 1 },
          bars: { type: 'integer', minimum: 1, maximum: 256 },
          energy: { type: 'number', minimum: 0, maximum: 1, default: 0.5 },
          prompt: { type: 'string' },
        },
      },
    },
    lyrics: { type: 'string', minLength: 1 },
    voice: {
      type: 'object',
      additionalProperties: false,
      required: ['voice_id'],
      properties: {
        voice_id: { type: 'string', minLength: 1 },
        model_id: { type: 'string', default: 'eleven_multilingual_v2' },
        stability: { type: 'number', minimum: 0, maximum: 1 },
        similarity_boost: { type: 'number', minimum: 0, maximum: 1 },
        style_exaggeration: { type: 'number', minimum: 0, maximum: 1 },
        speaker_boost: { type: 'boolean', default: true },
      },
    },
    metadata: { type: 'object', default: {} },
    melody: {
      description: 'The hummed melody, quantised to the beat grid: one entry per note.',
      type: 'array',
      maxItems: 4096,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['midi', 'start_beat', 'beats'],
        properties: {
          midi: { type: 'integer', minimum: 0, maximum: 127 },
          start_beat: { type: 'number', minimum: 0 },
          beats: { type: 'number', exclusiveMinimum: 0 },
          velocity: { type: 'number', minimum: 0, maximum: 1 },
        },
      },
    },
    chords: {
      description: 'Chord progression as symbols (e.g. "Am", "F", "C", "G"), one per bar, repeated over each section.',
      type: 'array',
      maxItems: 64,
      items: { type: 'string', pattern: '^[A-G](#|b)?(m|dim|aug|sus2|sus4|maj7|m7|7)?$' },
    },
    arrangement: {
      description: 'Per-section layers; the index matches `sections`.',
      type: 'array',
      maxItems: 256,
      items: {
        type: 'object',
        additionalProperties: false,
        properties: {
          drums: { type: 'boolean' },
          bass: { type: 'boolean' },
          pads: { type: 'boolean' },
          lead: { type: 'boolean' },
          vocals: { type: 'boolean' },
        },
      },
    },
    mix: {
      type: 'object',
      additionalProperties: false,
      properties: {
        vocal_gain_db: { type: 'number', minimum: -24, maximum: 12 },
        ducking: { type: 'number', minimum: 0, maximum: 1 },
        fade_out_seconds: { type: 'number', minimum: 0, maximum: 10 },
      },
    },
  },
} as const;

export interface BlueprintSection {
  name: string;
  bars: number;
  energy?: number;
  prompt?: string;
}

export interface BlueprintVoice {
  voice_id: string;
  model_id?: string;
  stability?: number;
  similarity_boost?: number;
  style_exaggeration?: number;
  speaker_boost?: boolean;
}

export interface MelodyNote {
  midi: number;
  start_beat: number;
  beats: number;
  velocity?: number;
}

export interface SectionArrangement {
  drums?: boolean;
  bass?: boolean;
  pads?: boolean;
  lead?: boolean;
  vocals?: boolean;
}

export interface Blueprint {
  id: string;
  style: string;
  tempo_bpm: number;
  key: string;
  time_signature?: string;
  sections: BlueprintSection[];
  lyrics: string;
  voice: BlueprintVoice;
  metadata?: Record<string, unknown>;
  melody?: MelodyNote[];
  chords?: string[];
  arrangement?: SectionArrangement[];
  mix?: { vocal_gain_db?: number; ducking?: number; fade_out_seconds?: number };
}

export interface BlueprintError {
  /** JSON Pointer of the offending value, `/` for the root. */
  path: string;
  message: string;
}

export type BlueprintValidation = { ok: true; blueprint: Blueprint; errors: [] } | { ok: false; errors: BlueprintError[] };

const ajv = new Ajv2020({ allErrors: true, useDefaults: true, strict: true });
const validateSchema = ajv.compile(BLUEPRINT_SCHEMA);

function toError(error: ErrorObject): BlueprintError {
  const base = error.instancePath || '';
  if (error.keyword === 'additionalProperties') {
    const extra = (error.params as { additionalProperty: string }).additionalProperty;
    return { path: `${base}/${extra}`, message: 'unknown property' };
  }
  if (error.keyword === 'required') {
    const missing = (error.params as { missingProperty: string }).missingProperty;
    return { path: `${base}/${missing}`, message: 'is required' };
  }
  return { path: base || '/', message: error.message ?? 'is invalid' };
}

/** A blueprint nests a few levels; anything deeper is refused before a parser or validator recurses into it. */
export const MAX_BLUEPRINT_DEPTH = 32;

/** True when the JSON text opens more than `max` arrays/objects at once (strings are skipped). */
export function nestsDeeperThan(json: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < json.length; i += 1) {
    const char = json.charCodeAt(i);
    if (inString) {
      if (char === 0x5c)
        i += 1; // backslash: skip the escaped character
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x5b || char === 0x7b) {
      depth += 1;
      if (depth > max) return true;
    } else if (char === 0x5d || char === 0x7d) depth -= 1;
  }
  return false;
}

/** The same rule for a value already parsed, walked without recursion so no depth can overflow the stack. */
function valueNestsDeeperThan(value: unknown, max: number): boolean {
  const pending: Array<[unknown, number]> = [[value, 0]];
  while (pending.length) {
    const [current, depth] = pending.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth + 1 > max) return true;
    for (const child of Object.values(current)) pending.push([child, depth + 1]);
  }
  return false;
}

/** Validates a blueprint and fills the schema's defaults into a copy. */
export function validateBlueprint(input: unknown): BlueprintValidation {
  if (valueNestsDeeperThan(input, MAX_BLUEPRINT_DEPTH)) {
    return { ok: false, errors: [{ path: '/', message: `nests deeper than ${MAX_BLUEPRINT_DEPTH} levels` }] };
  }
  const copy: unknown = input === undefined ? undefined : structuredClone(input);
  if (validateSchema(copy)) return { ok: true, blueprint: copy as unknown as Blueprint, errors: [] };
  return { ok: false, errors: (validateSchema.errors ?? []).map(toError) };
}

/** Beats per bar and the beat unit of a time signature such as `6/8`. */
export function parseTimeSignature(signature = '4/4'): { beatsPerBar: number; beatUnit: number } {
  const [beatsPerBar, beatUnit] = signature.split('/').map(Number);
  return { beatsPerBar, beatUnit };
}

/**
 * How long a blueprint plays, in seconds: bars × beats per bar at the blueprint's tempo. This is the
 * length every engine renders (stems, mix, MIDI, ElevenLabs' plan): `tempo_bpm` counts the signature's
 * own beat, so the denominator names that beat's note value and does not change the length.
 */
export function blueprintDurationSeconds(blueprint: Pick<Blueprint, 'sections' | 'tempo_bpm' | 'time_signature'>): number {
  const { beatsPerBar } = parseTimeSignature(blueprint.time_signature);
  const bars = blueprint.sections.reduce((sum, section) => sum + section.bars, 0);
  return (bars * beatsPerBar * 60) / blueprint.tempo_bpm;
}

/** The longest render a deployment allows by default (`MAX_RENDER_SECONDS`). */
export const DEFAULT_MAX_RENDER_SECONDS = 300;

export interface RenderTooLong {
  code: 'BLUEPRINT_TOO_LONG';
  message: string;
  seconds: number;
  maxSeconds: number;
}

/**
 * Why a valid blueprint may still not be rendered: it asks for more than `maxSeconds` of audio.
 * Null when it fits. The api, the worker and music-tools all ask this before any render work.
 */
export function renderTooLong(blueprint: Pick<Blueprint, 'sections' | 'tempo_bpm' | 'time_signature'>, maxSeconds: number): RenderTooLong | null {
  const seconds = blueprintDurationSeconds(blueprint);
  if (seconds <= maxSeconds) return null;
  const asked = seconds >= 3600 ? `${(seconds / 3600).toFixed(1)} hours` : seconds >= 120 ? `${(seconds / 60).toFixed(1)} minutes` : `${seconds.toFixed(1)} seconds`;
  return {
    code: 'BLUEPRINT_TOO_LONG',
    message: `The blueprint asks for ${asked} of audio; at most ${maxSeconds} seconds can be rendered.`,
    seconds,
    maxSeconds,
  };
}
