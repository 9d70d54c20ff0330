import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';

export interface BenchEnvironment {
  env: NodeJS.ProcessEnv;
  /** Drops the run's database and storage folder. */
  remove: () => Promise<void>;
}

/** A stack environment of its own for one benchmark run: a fresh database, queue prefix and storage folder, free ports. */
export function benchEnvironment(extra: NodeJS.ProcessEnv = {}): BenchEnvironment {
  const suffix = randomBytes(4).toString('hex');
  const database = `mcm_bench_${suffix}`;
  const s3Dir = join(tmpdir(), `mcm-bench-s3-${suffix}`);
  mkdirSync(s3Dir, { recursive: true });
  const env = {
    ...process.env,
    DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${database}`,
    QUEUE_PREFIX: `bench-${suffix}`,
    PORT: '0',
    MCP_HTTP_PORT: '0',
    WORKER_METRICS_PORT: '0',
    EMBEDDED_S3_PORT: '0',
    EMBEDDED_S3_DIR: s3Dir,
    LOG_LEVEL: 'warn',
    ...extra,
  };
  return {
    env,
    remove: async () => {
      const admin = new Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      await admin.end();
      rmSync(s3Dir, { recursive: true, force: true });
    },
  };
}
