import { z } from 'zod';
import { BLUEPRINT_SCHEMA } from './blueprint.schema';

/*
 * What crosses the line between the worker and music-tools: each tool's arguments and answer,
 * stated once. The server registers these shapes; MusicToolsClient parses answers with them.
 */

const { $schema: _schemaDialect, $id: _schemaId, ...blueprintJsonSchema } = BLUEPRINT_SCHEMA;

/** Clients that only know "a string or an object" send the blueprint as JSON text; it is read as the object it spells. */
function parseJsonText(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    // Left as it is, so the blueprint validator answers "/ must be object" instead of a parse error.
    return value;
  }
}

/** The blueprint's own JSON Schema, published as the argument's schema so generic clients send an object. */
const publishedBlueprintSchema = (description: string) => ({ ...(structuredClone(blueprintJsonSchema) as unknown as Record<string, unknown>), description });

/**
 * A blueprint argument: any object (or JSON text of one) at the protocol level, so the tool itself
 * answers with JSON paths instead of a generic "invalid arguments" error.
 */
export const blueprintArgument = z
  .preprocess(parseJsonText, z.record(z.string(), z.unknown()))
  .meta(publishedBlueprintSchema('The blueprint, as an object or its JSON text. Its JSON Schema is also the resource blueprint://schema.'));

/** For `validate_blueprint`, whose whole point is to take anything and say what is wrong with it. */
export const anyBlueprintArgument = z
  .preprocess(parseJsonText, z.unknown())
  .meta(publishedBlueprintSchema('The blueprint to check, as an object or its JSON text. Its JSON Schema is also the resource blueprint://schema.'));

export const blueprintErrorOutput = z.object({
  path: z.string().describe('JSON Pointer of the offending value, "/" for the root'),
  message: z.string(),
});

/** The fields every failed tool call carries, so clients read `code` and `retryable` the same way everywhere. */
export const toolFailureOutput = {
  ok: z.boolean(),
  code: z.string().optional().describe('Present on failure'),
  message: z.string().optional(),
  retryable: z.boolean().optional().describe('Present on failure: whether the same call may succeed later'),
};

export const validateBlueprintInput = { blueprint: anyBlueprintArgument };
export const validateBlueprintOutput = { ok: z.boolean(), errors: z.array(blueprintErrorOutput) };

export const blueprintDurationInput = { blueprint: blueprintArgument };
export const blueprintDurationOutput = {
  ok: z.boolean(),
  seconds: z.number().optional(),
  bars: z.int().optional(),
  beats_per_bar: z.int().optional(),
  tempo_bpm: z.int().optional(),
  code: toolFailureOutput.code,
  message: toolFailureOutput.message,
  retryable: toolFailureOutput.retryable,
  errors: z.array(blueprintErrorOutput).optional(),
};

const httpUrl = z.url({ protocol: /^https?$/ });

export const synthesizePreviewInput = {
  blueprint: blueprintArgument,
  stems: z
    .object({
      instrumental_url: httpUrl.optional().describe('Presigned GET URL of a rendered instrumental (a WAV file); rendered here when absent'),
      vocals_url: httpUrl.nullable().optional().describe('Presigned GET URL of the vocal stem (a WAV file); the preview is instrumental-only when absent'),
    })
    .optional(),
  upload: z
    .object({
      preview_url: httpUrl.describe('Presigned PUT URL for preview.mp3 (Content-Type audio/mpeg)'),
      master_url: httpUrl.describe('Presigned PUT URL for master.wav (Content-Type audio/wav)'),
      midi_url: httpUrl.optional().describe('Presigned PUT URL for arrangement.mid, the arrangement as a MIDI file (Content-Type audio/midi)'),
      peaks_url: httpUrl.optional().describe('Presigned PUT URL for the waveform peaks of the master, audiowaveform JSON (Content-Type application/json)'),
    })
    .optional()
    .describe('When absent the preview MP3 comes back as audio content'),
};

export const synthesizePreviewOutput = {
  ok: z.boolean(),
  duration_ms: z.int().optional(),
  mime_type: z.literal('audio/mpeg').optional(),
  loudness_lufs: z.number().optional().describe('Integrated loudness of the preview'),
  true_peak_dbtp: z.number().optional(),
  uploaded: z.boolean().optional().describe('True when preview and master (and MIDI and peaks when asked) were PUT to the upload URLs'),
  bytes: z.int().optional().describe('Size of the preview MP3'),
  code: toolFailureOutput.code.describe(
    'Present on failure, e.g. INVALID_BLUEPRINT, BLUEPRINT_TOO_LONG, URL_NOT_ALLOWED, MUSIC_TOOLS_BUSY, STEM_DOWNLOAD_FAILED, AUDIO_UNDECODABLE (a stem is not a WAV file), UPLOAD_FAILED',
  ),
  message: toolFailureOutput.message,
  retryable: toolFailureOutput.retryable,
  errors: z.array(blueprintErrorOutput).optional(),
};

export type BlueprintCheck = z.infer<z.ZodObject<typeof validateBlueprintOutput>>;
export type SynthesizePreviewArgs = z.input<z.ZodObject<typeof synthesizePreviewInput>>;
export type PreviewReport = Pick<Required<z.infer<z.ZodObject<typeof synthesizePreviewOutput>>>, 'duration_ms' | 'loudness_lufs' | 'true_peak_dbtp' | 'bytes'>;
