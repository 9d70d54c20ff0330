import { z } from 'zod';
import { BLUEPRINT_SCHEMA } from './blueprint.schema';
import { MomentStatus } from './stages';

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

/*
 * The agent tools: music-tools as a client of the api, so an agent makes a theme song from start to finish.
 */

const momentId = z.string().min(1).max(128).describe('The moment id create_moment answered');

export const createMomentInput = {
  audio_base64: z
    .string()
    .min(1)
    .describe(
      'The recording itself, base64-encoded (standard alphabet; a "data:audio/…;base64," prefix is allowed). ' +
        "wav, mp3, m4a/aac, ogg/opus, webm or flac, checked by content; at most the api's MAX_UPLOAD_MB. Never a URL.",
    ),
  filename: z.string().min(1).max(255).optional().describe('Name of the recording, e.g. hum.m4a; metadata only'),
  style: z.string().min(1).max(120).optional().describe('Musical style: one of list_styles, or words like "epic orchestra" that map to the nearest'),
  title: z.string().min(1).max(200).optional(),
  lyrics: z.string().min(1).max(5000).optional().describe('Words to sing instead of generated ones'),
};

export const getMomentInput = { id: momentId };

/** Longest wait one call holds; an agent calls again for longer. */
export const MAX_WAIT_SECONDS = 300;

export const waitForMomentInput = {
  id: momentId,
  timeout_s: z
    .number()
    .positive()
    .max(MAX_WAIT_SECONDS)
    .optional()
    .describe(`Seconds to wait before answering with the moment as it stands (default 120, at most ${MAX_WAIT_SECONDS}); it goes on server-side`),
};

const assetLinks = z
  .object({
    original: z.string().nullable().optional(),
    vocals: z.string().nullable().optional(),
    instrumental: z.string().nullable().optional(),
    preview: z.string().nullable().optional().describe('The mixed and mastered preview MP3'),
    master: z.string().nullable().optional().describe('The lossless master WAV'),
    midi: z.string().nullable().optional(),
    peaks: z.string().nullable().optional(),
  })
  .describe("Presigned URLs of the moment's files (they expire); null until a file exists");

/** The moment as every agent tool answers it: what it is, how far it got, and where its files are. */
export const momentToolOutput = {
  ok: z.boolean(),
  id: z.string().optional(),
  status: z.enum(MomentStatus).optional(),
  stage: z.string().nullable().optional().describe('The stage in progress (or that failed); null when finished'),
  progress: z.number().min(0).max(1).optional(),
  style: z.string().nullable().optional(),
  title: z.string().nullable().optional(),
  status_url: z.string().optional().describe("The api's URL of this moment"),
  links: assetLinks.optional(),
  moment_error: z.object({ stage: z.string().nullable(), code: z.string(), message: z.string(), retryable: z.boolean() }).nullable().optional().describe('Why the moment FAILED'),
  timed_out: z.boolean().optional().describe('wait_for_moment: true when it answered before the moment finished'),
  preview: z
    .object({ mime_type: z.literal('audio/mpeg'), bytes: z.int() })
    .optional()
    .describe('wait_for_moment: the preview returned as audio content'),
  code: toolFailureOutput.code.describe('Present on failure, e.g. INVALID_AUDIO_BASE64, UPLOAD_TOO_LARGE, API_UNREACHABLE, MOMENT_NOT_FOUND, MOMENT_FAILED'),
  message: toolFailureOutput.message,
  retryable: toolFailureOutput.retryable,
};

export const listStylesOutput = {
  styles: z.array(
    z.object({
      name: z.string(),
      description: z.string(),
      tempo_bpm: z.int().describe("The style's home tempo, used when the recording shows no pulse"),
    }),
  ),
};

export type MomentToolOutput = z.infer<z.ZodObject<typeof momentToolOutput>>;
