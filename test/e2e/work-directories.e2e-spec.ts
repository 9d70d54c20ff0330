import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { launcherWorkerNice, startApp, stopApp, type AppKind } from '../../scripts/stack';
import { createTestEnv, type TestEnv } from '../support/test-env';

/** The pid of a process that ran and exited: nothing answers to it any more. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid!;
}

/**
 * Each app, started for real with its own temp dir, removes the work directories that killed
 * processes left there, and never one of a process still running.
 */
describe('work directories left by killed processes', () => {
  let testEnv: TestEnv;
  let dead: number;
  const roots: string[] = [];

  beforeAll(async () => {
    testEnv = await createTestEnv();
    dead = await deadPid();
  });

  afterAll(async () => {
    for (const root of roots) rmSync(root, { recursive: true, force: true });
    await testEnv?.cleanup();
  });

  it.each<AppKind>(['api', 'worker', 'music-tools'])('%s removes dead processes’ directories at start-up and keeps live ones', async (kind) => {
    const root = mkdtempSync(join(tmpdir(), 'mcm-workdir-test-'));
    roots.push(root);
    const hourAgo = new Date(Date.now() - 2 * 3_600_000);
    const layout = {
      leftovers: [`mcm-upload-${dead}-a1B2c3`, `mcm-render_vocals-${dead}-d4E5f6`, `mcm-preview-${dead}-g7H8i9`, 'mcm-analyze-Old111'],
      kept: [`mcm-mix-${process.pid}-j1K2l3`, `mcm-upload-${process.pid}-m4N5o6`, 'mcm-mix-New222', 'mcm-s3-Zz9999', 'unrelated'],
    };
    for (const name of [...layout.leftovers, ...layout.kept]) {
      mkdirSync(join(root, name));
      writeFileSync(join(root, name, 'upload'), 'recording bytes');
    }
    // Old-style names (no pid) go only once idle for an hour; a test's own directory of that age stays.
    for (const name of ['mcm-analyze-Old111', 'mcm-s3-Zz9999']) utimesSync(join(root, name), hourAgo, hourAgo);

    const logs: string[] = [];
    const app = await startApp(kind, kind, { ...testEnv.env, LOG_LEVEL: 'log', TMPDIR: root, MCP_BASE_URL: 'http://127.0.0.1:9' }, (_name, line) => logs.push(line));
    try {
      // Beside them, the app's own live directory: the socket of the ffmpeg fork server it starts once ready.
      const own = `mcm-ffmpeg_launcher-${app.child.pid}-`;
      await vi.waitFor(() => expect(readdirSync(root).filter((name) => name.startsWith(own))).toHaveLength(1), { timeout: 10_000 });
      expect(
        readdirSync(root)
          .filter((name) => !name.startsWith(own))
          .sort(),
      ).toEqual([...layout.kept].sort());
      expect(logs.join('\n')).toContain(`removed ${layout.leftovers.length} work directories`);
    } finally {
      await stopApp(app);
    }
    // Stopped, the app takes its fork server's directory with it.
    expect(readdirSync(root).sort()).toEqual([...layout.kept].sort());
  });
});

describe('the launcher runs workers at a lower CPU priority', () => {
  let testEnv: TestEnv;
  beforeAll(async () => {
    testEnv = await createTestEnv();
  });
  afterAll(async () => {
    await testEnv?.cleanup();
  });

  it('gives a started worker its nice value, and the api keeps the normal priority', async () => {
    const env = { ...testEnv.env, MCP_BASE_URL: 'http://127.0.0.1:9' };
    const [worker, api] = await Promise.all([startApp('worker', 'worker', env, () => undefined, 7), startApp('api', 'api', env, () => undefined)]);
    try {
      expect(getPriority(worker.child.pid)).toBe(7);
      expect(getPriority(api.child.pid)).toBe(getPriority());
    } finally {
      await Promise.all([stopApp(worker), stopApp(api)]);
    }
  });

  it('reads WORKER_NICE: 10 when unset, and a clear refusal for anything but 0–19', () => {
    expect(launcherWorkerNice({})).toBe(10);
    expect(launcherWorkerNice({ WORKER_NICE: '0' })).toBe(0);
    expect(launcherWorkerNice({ WORKER_NICE: '19' })).toBe(19);
    for (const value of ['-1', '20', '2.5', 'low']) expect(() => launcherWorkerNice({ WORKER_NICE: value })).toThrow(`WORKER_NICE must be a whole number from 0 to 19, not "${value}"`);
  });
});
