import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { DEFAULT_MAX_RENDER_SECONDS } from '@mcm/pipeline';

/**
 * Every setting of the stack, validated at start-up (SPEC §8), in slices: each app validates
 * the settings it reads and no others, so music-tools deploys without a database or Redis.
 * `DO_SPACES_*` are accepted as aliases of the `S3_*` variables.
 */
const optional = z
  .string()
  .transform((value) => value.trim())
  .transform((value) => (value === '' ? undefined : value))
  .optional();

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);
const token = optional.pipe(z.string().min(16, 'must be at least 16 characters').optional());

/** Read by every app. */
const shared = {
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'log', 'debug', 'verbose']).default('log'),
  FFMPEG_PATH: optional,
  OUTBOUND_ALLOW_PRIVATE: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true'),
  MAX_RENDER_SECONDS: z.coerce.number().positive().max(3600).default(DEFAULT_MAX_RENDER_SECONDS),
  // With a token, /metrics needs it on every listener; without, it is served on loopback listeners only.
  METRICS_TOKEN: token,
  // Set: spans are exported over OTLP/HTTP to <endpoint>/v1/traces. The SDK reads the other OTEL_* settings itself.
  OTEL_EXPORTER_OTLP_ENDPOINT: optional.pipe(z.string().url().optional()),
};

/** Where objects live: every app, music-tools to tell presigned URLs of its storage from any other. */
const storageLocation = {
  S3_ENDPOINT: optional.pipe(z.string().url().optional()),
  S3_BUCKET: z.string().min(3).default('main-character'),
  S3_FORCE_PATH_STYLE: z.enum(['true', 'false']).optional(),
  EMBEDDED_S3_PORT: port(4569),
};

const mcpPort = { MCP_HTTP_PORT: port(8080) };

/** The api refuses larger uploads; music-tools refuses larger base64 clips before sending them on. */
const uploadLimit = { MAX_UPLOAD_MB: z.coerce.number().positive().max(1024).default(25) };

/** What the api and the worker share through CoreModule: Postgres, the queues, signed storage, music-tools and ElevenLabs as clients. */
const core = {
  DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/main_character'),
  REDIS_URL: z
    .string()
    .url()
    .refine((url) => url.startsWith('redis://') || url.startsWith('rediss://'), 'must start with redis:// or rediss://')
    .default('redis://127.0.0.1:6379'),
  QUEUE_PREFIX: z
    .string()
    .min(1)
    .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, - and _ only')
    .default('mcm'),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_ACCESS_KEY_ID: optional,
  S3_SECRET_ACCESS_KEY: optional,
  PRESIGN_TTL_SECONDS: z.coerce.number().int().min(1).max(604800).default(900),
  MCP_BASE_URL: optional.pipe(z.string().url().optional()),
  MCP_AUTH_TOKEN: token,
  // Unset MCP_BASE_URL means the music-tools of this host, on its port.
  ...mcpPort,
  ELEVENLABS_API_KEY: optional,
  ELEVENLABS_DEFAULT_VOICE_ID: z.string().min(1).default('21m00Tcm4TlvDq8ikWAM'),
  ELEVENLABS_BASE_URL: z.string().url().default('https://api.elevenlabs.io'),
  ELEVENLABS_TIMEOUT_MS: z.coerce.number().int().min(1000).max(600_000).default(60_000),
  ELEVENLABS_MUSIC_TIMEOUT_MS: z.coerce.number().int().min(1000).max(1_800_000).default(300_000),
};

/** Read by the apps that render: the worker and music-tools. */
const render = {
  SOUNDFONT_PATH: optional.pipe(
    z
      .string()
      .refine((file) => existsSync(file), 'names no file')
      .optional(),
  ),
};

/** A Standard Webhooks secret: `whsec_` and base64 of 24 to 64 random bytes. */
const WEBHOOK_SECRET_FORMAT = /^whsec_[A-Za-z0-9+/]+={0,2}$/;
function isWebhookSecret(secret: string): boolean {
  const bytes = WEBHOOK_SECRET_FORMAT.test(secret) ? Buffer.from(secret.slice('whsec_'.length), 'base64').length : 0;
  return bytes >= 24 && bytes <= 64;
}

/** The api refuses a `webhook_url` without a secret to sign with; the worker signs. */
const webhookSecrets = {
  // Comma-separated: every secret signs each delivery, so a receiver can move to a new one without a gap.
  WEBHOOK_SECRET: optional.pipe(
    z
      .string()
      .transform((value) =>
        value
          .split(',')
          .map((secret) => secret.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.string().refine(isWebhookSecret, 'each secret must be whsec_ followed by base64 of 24 to 64 bytes')).min(1))
      .optional(),
  ),
};

/** Delays before each attempt of a delivery: the Standard Webhooks schedule (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h). */
export const DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS = [0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000];

const webhookDelivery = {
  WEBHOOK_RETRY_SCHEDULE_MS: z
    .string()
    .default(DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS.join(','))
    .transform((value) => value.split(',').map((delay) => Number(delay.trim())))
    .pipe(
      z
        .array(
          z
            .number()
            .int()
            .min(0)
            .max(7 * 86_400_000),
        )
        .min(1)
        .max(20),
    ),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(16),
};

const api = {
  PORT: port(3000),
  HOST: z.string().default('127.0.0.1'),
  PUBLIC_BASE_URL: optional.pipe(z.string().url().optional()),
  ADMIN_TOKEN: token,
  API_KEYS: optional.pipe(
    z
      .string()
      .transform((value) =>
        value
          .split(',')
          .map((key) => key.trim())
          .filter(Boolean),
      )
      .pipe(
        z.array(
          z
            .string()
            .min(16, 'each key must be at least 16 characters')
            .regex(/^[\x21-\x7e]+$/, 'keys are visible ASCII without spaces'),
        ),
      )
      .optional(),
  ),
  CORS_ORIGINS: optional,
  // Proxies close idle connections; a comment line this often keeps a live-event stream open.
  SSE_HEARTBEAT_MS: z.coerce.number().int().min(100).max(300_000).default(15_000),
  // How often each api instance checks, in one query, the moments it streams for changes whose announcement was lost.
  SSE_RECHECK_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
  RATE_LIMIT_CREATE_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(30),
  MAX_MOMENTS_IN_FLIGHT_PER_KEY: z.coerce.number().int().min(1).max(100_000).default(5),
  ...uploadLimit,
  MAX_AUDIO_SECONDS: z.coerce.number().positive().max(3600).default(60),
  MIN_AUDIO_SECONDS: z.coerce.number().min(0).max(60).default(0.5),
  // Checking an upload is one ffmpeg decode of up to a minute of audio: about a core each.
  MAX_CONCURRENT_PROBES: z.coerce.number().int().min(1).max(1024).default(availableParallelism()),
  PROBE_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(15_000),
};

const worker = {
  WORKER_STAGES: optional,
  // Unset: each stage's default from the core count (see the worker's stage processors).
  WORKER_CONCURRENCY: optional.pipe(z.coerce.number<string | undefined>().int().min(1).max(64).optional()),
  WORKER_LOCK_MS: z.coerce.number().int().min(2000).max(3_600_000).default(30_000),
  WORKER_STALLED_INTERVAL_MS: z.coerce.number().int().min(1000).max(3_600_000).default(15_000),
  RECONCILE_INTERVAL_MS: z.coerce.number().int().min(1000).default(30_000),
  // The worker has no other HTTP server: /metrics gets a listener of its own, on loopback unless told otherwise.
  WORKER_METRICS_PORT: port(9464),
  WORKER_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  // 0 keeps originals and stems for ever.
  RETENTION_DAYS: z.coerce.number().int().min(0).max(36_500).default(30),
  SWEEP_INTERVAL_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(7 * 86_400)
    .default(3600),
  SWEEP_GRACE_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .max(30 * 86_400)
    .default(3600),
};

const musicTools = {
  ...mcpPort,
  MCP_HOST: z.string().min(1).default('127.0.0.1'),
  MCP_AUTH_TOKEN: token,
  // Unset: as many concurrent renders as the machine has cores.
  MCP_MAX_RENDERS: optional.pipe(z.coerce.number<string | undefined>().int().min(1).max(256).optional()),
  MCP_RENDER_QUEUE: z.coerce.number().int().min(0).max(10_000).default(16),
  // The agent tools reach the api as any client does; `npm start` passes its own api's address.
  MCM_API_URL: z.string().url().default('http://127.0.0.1:3000'),
  // Needed when the api has API_KEYS: the operator adds this key to that list.
  MCM_API_KEY: optional,
  ...uploadLimit,
};

/** The embedded storage of `npm start`, which runs every app. */
const stack = {
  EMBEDDED_S3_DIR: z.string().default('.data/s3'),
};

/** True when `S3_ENDPOINT` was not configured and the embedded server serves storage; its address then. */
function resolveStorage<T extends { S3_ENDPOINT?: string; EMBEDDED_S3_PORT: number }>(config: T) {
  const embeddedStorage = !config.S3_ENDPOINT;
  return { ...config, S3_ENDPOINT: config.S3_ENDPOINT ?? `http://127.0.0.1:${config.EMBEDDED_S3_PORT}`, embeddedStorage };
}

function resolveCore<T extends ReturnType<typeof resolveStorage> & { S3_ACCESS_KEY_ID?: string; S3_SECRET_ACCESS_KEY?: string; MCP_BASE_URL?: string; MCP_HTTP_PORT: number }>(config: T) {
  const { embeddedStorage } = config;
  return {
    ...config,
    S3_ACCESS_KEY_ID: config.S3_ACCESS_KEY_ID ?? (embeddedStorage ? 'S3RVER' : ''),
    // The embedded storage checks signatures: with no secret configured, each run gets its own, so none is well known.
    S3_SECRET_ACCESS_KEY: config.S3_SECRET_ACCESS_KEY ?? (embeddedStorage ? randomBytes(32).toString('hex') : ''),
    /** Where the worker and `/readyz` reach music-tools. */
    MCP_BASE_URL: config.MCP_BASE_URL ?? `http://127.0.0.1:${config.MCP_HTTP_PORT}`,
  };
}

/** Previews music-tools renders at once; more calls wait in a queue of `MCP_RENDER_QUEUE`. */
function resolveRenders<T extends { MCP_MAX_RENDERS?: number }>(config: T) {
  return { ...config, MCP_MAX_RENDERS: config.MCP_MAX_RENDERS ?? availableParallelism() };
}

/** The settings each app reads. */
const SETTINGS = {
  api: { ...shared, ...storageLocation, ...core, ...webhookSecrets, ...api },
  worker: { ...shared, ...storageLocation, ...core, ...render, ...webhookSecrets, ...webhookDelivery, ...worker },
  'music-tools': { ...shared, ...storageLocation, ...render, ...musicTools },
  stack: { ...shared, ...storageLocation, ...core, ...render, ...webhookSecrets, ...webhookDelivery, ...api, ...worker, ...musicTools, ...stack },
};

const SCHEMAS = {
  api: z.object(SETTINGS.api).transform((config) => resolveCore(resolveStorage(config))),
  worker: z.object(SETTINGS.worker).transform((config) => resolveCore(resolveStorage(config))),
  'music-tools': z.object(SETTINGS['music-tools']).transform((config) => resolveRenders(resolveStorage(config))),
  stack: z.object(SETTINGS.stack).transform((config) => resolveRenders(resolveCore(resolveStorage(config)))),
};

/** An app that validates its own slice of the configuration; `stack` is `npm start`, which runs them all. */
export type ConfigScope = keyof typeof SCHEMAS;
type Flat<T> = { [K in keyof T]: T[K] };
export type ConfigOf<S extends ConfigScope> = Flat<z.output<(typeof SCHEMAS)[S]>>;
export type ApiConfig = ConfigOf<'api'>;
export type WorkerConfig = ConfigOf<'worker'>;
export type MusicToolsConfig = ConfigOf<'music-tools'>;
/** What CoreModule reads: the part of the configuration the api and the worker share. */
export type CoreConfig = ApiConfig | WorkerConfig;
/** Every setting of the stack. */
export type AppConfig = ConfigOf<'stack'>;

const ALIASES: Record<string, string> = {
  DO_SPACES_KEY: 'S3_ACCESS_KEY_ID',
  DO_SPACES_SECRET: 'S3_SECRET_ACCESS_KEY',
  DO_SPACES_REGION: 'S3_REGION',
  DO_SPACES_BUCKET: 'S3_BUCKET',
  DO_SPACES_ENDPOINT: 'S3_ENDPOINT',
};

/**
 * The environment an app of the stack starts with: the stack's, without the settings only other apps read (the
 * api's keys and admin token, the worker's webhook secrets, the storage credentials and database of the api and the
 * worker, and their aliases), so a process holds no secret it has no use for. What no app reads (PATH, NODE_OPTIONS,
 * OTEL_*) passes.
 */
export function appEnvironment(scope: Exclude<ConfigScope, 'stack'>, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const own = new Set(Object.keys(SETTINGS[scope]));
  const others = new Set(Object.keys(SETTINGS.stack).filter((name) => !own.has(name)));
  for (const [alias, name] of Object.entries(ALIASES)) if (!own.has(name)) others.add(alias);
  return Object.fromEntries(Object.entries(env).filter(([name]) => !others.has(name)));
}

export class ConfigError extends Error {}

export function loadConfig<S extends ConfigScope = 'stack'>(env: NodeJS.ProcessEnv = process.env, scope: S = 'stack' as S): ConfigOf<S> {
  const source: Record<string, string | undefined> = { ...env };
  for (const [alias, name] of Object.entries(ALIASES)) {
    if (!source[name] && source[alias]) source[name] = source[alias];
  }
  const parsed = SCHEMAS[scope].safeParse(source);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // Values are never echoed: they may be secrets.
    throw new ConfigError(`Invalid configuration: ${issue.path.join('.')} ${issue.message}`);
  }
  // TypeScript cannot tie the schema picked by `scope` to its output type.
  return parsed.data as unknown as ConfigOf<S>;
}

/** Loads an app's configuration or stops the process with one clear line. */
export function loadConfigOrExit<S extends ConfigScope>(scope: S, env: NodeJS.ProcessEnv = process.env): ConfigOf<S> {
  try {
    return loadConfig(env, scope);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}
