import { describe, expect, it } from 'vitest';
import { appEnvironment, ConfigError, loadConfig, type ConfigScope } from './app-config';

/** Settings music-tools never reads, each set to a value its readers refuse. */
const OTHER_APPS_BROKEN = {
  DATABASE_URL: 'not a url',
  REDIS_URL: 'http://127.0.0.1:6379',
  QUEUE_PREFIX: 'has spaces',
  API_KEYS: 'short',
  ADMIN_TOKEN: 'short',
  PORT: 'eighty',
  WORKER_LOCK_MS: '5',
  ELEVENLABS_BASE_URL: 'nowhere',
};

const refusal = (env: NodeJS.ProcessEnv, scope: ConfigScope) => {
  try {
    loadConfig(env, scope);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  return undefined;
};

describe('configuration per app', () => {
  it('music-tools validates only its own settings: it starts without, or with broken, database, Redis and api settings', () => {
    const config = loadConfig({ MCP_AUTH_TOKEN: 'music-tools-token-0123', ...OTHER_APPS_BROKEN }, 'music-tools');
    expect(config).toMatchObject({ MCP_HTTP_PORT: 8080, MCP_HOST: '127.0.0.1', MCP_AUTH_TOKEN: 'music-tools-token-0123', S3_BUCKET: 'main-character', embeddedStorage: true });
    expect(config.S3_ENDPOINT).toBe('http://127.0.0.1:4569');
    expect(Object.keys(config)).not.toContain('DATABASE_URL');
    expect(Object.keys(config)).not.toContain('REDIS_URL');
    expect(Object.keys(config)).not.toContain('S3_SECRET_ACCESS_KEY');
    expect(loadConfig({}, 'music-tools').MCP_MAX_RENDERS).toBeGreaterThanOrEqual(1);
  });

  it("music-tools reaches the api as a client: its address, its own key and the upload limit, never the api's keys", () => {
    expect(loadConfig({}, 'music-tools')).toMatchObject({ MCM_API_URL: 'http://127.0.0.1:3000', MAX_UPLOAD_MB: 25 });
    const config = loadConfig({ MCM_API_URL: 'https://api.example.com', MCM_API_KEY: 'agent-key-0123456789', MAX_UPLOAD_MB: '10', API_KEYS: 'client-key-0123456789' }, 'music-tools');
    expect(config).toMatchObject({ MCM_API_URL: 'https://api.example.com', MCM_API_KEY: 'agent-key-0123456789', MAX_UPLOAD_MB: 10 });
    expect(Object.keys(config)).not.toContain('API_KEYS');
  });

  it('starts each app of the stack without the settings only the others read, secrets included, and passes what no app reads', () => {
    const stack = {
      PATH: '/usr/bin',
      OTEL_SERVICE_NAME: 'mcm',
      API_KEYS: 'client-key-0123456789',
      ADMIN_TOKEN: 'admin-token-0123456789',
      WEBHOOK_SECRET: 'whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0',
      DATABASE_URL: 'postgres://app:password@db/main',
      S3_SECRET_ACCESS_KEY: 's3-secret',
      DO_SPACES_SECRET: 'spaces-secret',
      DO_SPACES_BUCKET: 'spaces-bucket',
      ELEVENLABS_API_KEY: 'elevenlabs-key',
      MCP_AUTH_TOKEN: 'music-tools-token-0123',
      MCM_API_KEY: 'agent-key-0123456789',
      SOUNDFONT_PATH: '/fonts/a.sf2',
    };
    const dropped = (scope: Exclude<ConfigScope, 'stack'>) => Object.keys(stack).filter((name) => !(name in appEnvironment(scope, stack)));
    expect(dropped('music-tools')).toEqual(['API_KEYS', 'ADMIN_TOKEN', 'WEBHOOK_SECRET', 'DATABASE_URL', 'S3_SECRET_ACCESS_KEY', 'DO_SPACES_SECRET', 'ELEVENLABS_API_KEY']);
    expect(dropped('worker')).toEqual(['API_KEYS', 'ADMIN_TOKEN', 'MCM_API_KEY']);
    expect(dropped('api')).toEqual(['MCM_API_KEY', 'SOUNDFONT_PATH']);
    // What is left still configures the app as the whole stack's settings do.
    expect(loadConfig(appEnvironment('api', stack), 'api')).toMatchObject({ S3_SECRET_ACCESS_KEY: 's3-secret', S3_BUCKET: 'spaces-bucket', ADMIN_TOKEN: 'admin-token-0123456789' });
  });

  it('api and worker refuse a broken DATABASE_URL with the same one line as the whole stack', () => {
    const expected = 'Invalid configuration: DATABASE_URL Invalid URL';
    expect(refusal({ DATABASE_URL: 'not a url' }, 'stack')).toBe(expected);
    expect(refusal({ DATABASE_URL: 'not a url' }, 'api')).toBe(expected);
    expect(refusal({ DATABASE_URL: 'not a url' }, 'worker')).toBe(expected);
    expect(refusal({ DATABASE_URL: 'not a url' }, 'music-tools')).toBeUndefined();
  });

  it('each app refuses the settings it reads, with the message the whole stack gives', () => {
    const cases: [NodeJS.ProcessEnv, ConfigScope[], ConfigScope[]][] = [
      [{ REDIS_URL: 'http://127.0.0.1:6379' }, ['api', 'worker'], ['music-tools']],
      [{ API_KEYS: 'short' }, ['api'], ['worker', 'music-tools']],
      [{ PORT: 'eighty' }, ['api'], ['worker', 'music-tools']],
      [{ WORKER_LOCK_MS: '5' }, ['worker'], ['api', 'music-tools']],
      [{ MCP_RENDER_QUEUE: '-1' }, ['music-tools'], ['api', 'worker']],
      [{ MCM_API_URL: 'no url' }, ['music-tools'], ['api', 'worker']],
      [{ MAX_UPLOAD_MB: '0' }, ['api', 'music-tools'], ['worker']],
      [{ SOUNDFONT_PATH: '/nowhere/font.sf2' }, ['worker', 'music-tools'], ['api']],
      [{ MCP_AUTH_TOKEN: 'short-token' }, ['api', 'worker', 'music-tools'], []],
      [{ MAX_RENDER_SECONDS: '0' }, ['api', 'worker', 'music-tools'], []],
      [{ S3_ENDPOINT: 'nowhere' }, ['api', 'worker', 'music-tools'], []],
      [{ WORKER_METRICS_PORT: '70000' }, ['worker'], ['api', 'music-tools']],
      [{ METRICS_TOKEN: 'short-token' }, ['api', 'worker', 'music-tools'], []],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'no url here' }, ['api', 'worker', 'music-tools'], []],
    ];
    for (const [env, readers, others] of cases) {
      const message = refusal(env, 'stack');
      expect(message, JSON.stringify(env)).toMatch(/^Invalid configuration: [A-Z0-9_]+(\.\d+)? /);
      for (const scope of readers) expect({ scope, env, message: refusal(env, scope) }).toEqual({ scope, env, message });
      for (const scope of others) expect({ scope, env, message: refusal(env, scope) }).toEqual({ scope, env, message: undefined });
    }
  });

  it('gives the api and the worker storage credentials and music-tools address, and music-tools none of them', () => {
    const api = loadConfig({ MCP_HTTP_PORT: '9090', DO_SPACES_KEY: 'spaces-key', DO_SPACES_ENDPOINT: 'https://fra1.digitaloceanspaces.com' }, 'api');
    expect(api).toMatchObject({ MCP_BASE_URL: 'http://127.0.0.1:9090', S3_ACCESS_KEY_ID: 'spaces-key', S3_ENDPOINT: 'https://fra1.digitaloceanspaces.com', embeddedStorage: false });
    const musicTools = loadConfig({ DO_SPACES_KEY: 'spaces-key', DO_SPACES_ENDPOINT: 'https://fra1.digitaloceanspaces.com' }, 'music-tools');
    expect(musicTools).toMatchObject({ S3_ENDPOINT: 'https://fra1.digitaloceanspaces.com', embeddedStorage: false });
    expect(Object.keys(musicTools)).not.toContain('S3_ACCESS_KEY_ID');
  });

  it('takes WEBHOOK_SECRET as comma-separated Standard Webhooks secrets, and refuses anything else without echoing it', () => {
    const secrets = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, whsec_dGhlIG5leHQgc2VjcmV0LCBhZnRlciByb3RhdGlvbg==';
    expect(loadConfig({ WEBHOOK_SECRET: secrets }, 'worker').WEBHOOK_SECRET).toEqual(['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'whsec_dGhlIG5leHQgc2VjcmV0LCBhZnRlciByb3RhdGlvbg==']);
    expect(loadConfig({ WEBHOOK_SECRET: secrets }, 'api').WEBHOOK_SECRET).toHaveLength(2);
    expect(loadConfig({}, 'api').WEBHOOK_SECRET).toBeUndefined();
    for (const wrong of ['plain-text-secret-of-some-length', 'whsec_c2hvcnQ=', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw,whsec_not base64!']) {
      expect(() => loadConfig({ WEBHOOK_SECRET: wrong }, 'worker'), wrong).toThrow(/^Invalid configuration: WEBHOOK_SECRET(\.\d+)? each secret must be whsec_/);
      expect(() => loadConfig({ WEBHOOK_SECRET: wrong }, 'worker')).not.toThrow(wrong);
    }
  });
});
