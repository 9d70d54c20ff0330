import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, stopApp, type AppKind } from '../../scripts/stack';
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
      expect(readdirSync(root).sort()).toEqual([...layout.kept].sort());
      expect(logs.join('\n')).toContain(`removed ${layout.leftovers.length} work directories`);
    } finally {
      await stopApp(app);
    }
  });
});
