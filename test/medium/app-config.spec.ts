import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/stack';

/** Runs a built app to its exit with `env` added to a clean environment; for configurations it must refuse. */
async function refusedStart(app: 'api' | 'worker', env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined && !/^(DATABASE_URL|REDIS_URL)$/.test(entry[0])));
  return promisify(execFile)(process.execPath, [join(ROOT, `dist/apps/${app}/src/main.js`)], { env: { ...base, ...env }, timeout: 30_000 }).then(
    () => ({ code: 0, stderr: '' }),
    (error: { code: number; stderr: string }) => error,
  );
}

describe('configuration of the api and the worker, as processes', () => {
  for (const app of ['api', 'worker'] as const) {
    it(`${app} refuses a DATABASE_URL that is no URL, before connecting to anything, in one line`, async () => {
      const failed = await refusedStart(app, { DATABASE_URL: 'not a url' });
      expect(failed.code).toBe(1);
      expect(failed.stderr.trim().split('\n')).toEqual(['Invalid configuration: DATABASE_URL Invalid URL']);
    });

    it(`${app} refuses a REDIS_URL of another scheme, in one line`, async () => {
      const failed = await refusedStart(app, { REDIS_URL: 'http://127.0.0.1:6379' });
      expect(failed.code).toBe(1);
      expect(failed.stderr.trim().split('\n')).toEqual(['Invalid configuration: REDIS_URL must start with redis:// or rediss://']);
    });
  }
});
