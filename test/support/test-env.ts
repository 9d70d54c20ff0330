import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { loadConfig, migrate, startEmbeddedStorage, type AppConfig, type EmbeddedStorage } from '@mcm/core';

export interface TestEnv {
  env: NodeJS.ProcessEnv;
  config: AppConfig;
  storage: EmbeddedStorage;
  /** Takes the S3-compatible server down; its objects stay on disk. */
  stopStorage(): Promise<void>;
  /** Brings it back on the same port with the same objects. */
  startStorage(): Promise<void>;
  cleanup(): Promise<void>;
}

const BASE_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The key pair the test storage accepts signatures of unless a test sets its own; fixed, so runs are alike. */
const STORAGE_CREDENTIALS = { accessKeyId: 'test-storage-key', secretAccessKey: 'test-storage-secret-0123456789' };

/**
 * An isolated world for one test file: its own database (migrated), its own queue prefix,
 * its own S3-compatible server. `cleanup` removes all three.
 */
export async function createTestEnv(overrides: NodeJS.ProcessEnv = {}): Promise<TestEnv> {
  const suffix = randomBytes(5).toString('hex');
  const database = new URL(BASE_DATABASE_URL);
  database.pathname = `/mcm_test_${suffix}`;
  const directory = mkdtempSync(join(tmpdir(), 'mcm-s3-'));
  // Storage checks signatures, so it knows the key pair the apps will sign with.
  const credentials = {
    accessKeyId: overrides.S3_ACCESS_KEY_ID ?? STORAGE_CREDENTIALS.accessKeyId,
    secretAccessKey: overrides.S3_SECRET_ACCESS_KEY ?? STORAGE_CREDENTIALS.secretAccessKey,
  };
  const storage = await startEmbeddedStorage({ port: 0, directory, ...credentials });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: database.toString(),
    REDIS_URL,
    QUEUE_PREFIX: `test-${suffix}`,
    S3_ENDPOINT: storage.endpoint,
    S3_ACCESS_KEY_ID: credentials.accessKeyId,
    S3_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    S3_FORCE_PATH_STYLE: 'true',
    S3_BUCKET: 'moments-test',
    PORT: '0',
    MCP_HTTP_PORT: '0',
    WORKER_METRICS_PORT: '0',
    RECONCILE_INTERVAL_MS: '2000',
    // Tests create moments in bursts from one address; the rate-limit tests set their own.
    RATE_LIMIT_CREATE_PER_MINUTE: '100000',
    // Bursts of creates are checked side by side; the probe-cap tests set their own.
    MAX_CONCURRENT_PROBES: '64',
    ...overrides,
  };
  const config = loadConfig(env);
  await migrate(config.DATABASE_URL);
  let running: EmbeddedStorage | null = storage;
  return {
    env,
    config,
    storage,
    async stopStorage() {
      await running?.close();
      running = null;
    },
    async startStorage() {
      running ??= await startEmbeddedStorage({ port: storage.port, directory, ...credentials });
    },
    async cleanup() {
      await running?.close().catch(() => undefined);
      rmSync(directory, { recursive: true, force: true });
      await dropQueues(config.REDIS_URL, config.QUEUE_PREFIX);
      await dropDatabase(config.DATABASE_URL);
    },
  };
}

async function dropQueues(redisUrl: string, prefix: string): Promise<void> {
  const redis = new IORedis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

async function dropDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = url.pathname.slice(1);
  url.pathname = '/postgres';
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
