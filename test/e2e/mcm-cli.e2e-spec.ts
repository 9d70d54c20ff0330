import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeAudio } from '@mcm/audio';
import { storageFromConfig, type StorageRepository } from '@mcm/core';
import { blueprintDurationSeconds, type Blueprint } from '@mcm/pipeline';
import { startStack, type Stack } from '../../scripts/stack';
import { packAndInstallSdk, type InstalledSdk } from '../sdk/pack-sdk';
import { createTestEnv, type TestEnv } from '../support/test-env';

const HUM = resolve(__dirname, '../fixtures/hum-phone.m4a');
const ADMIN_TOKEN = 'e2e-mcm-cli-admin-token-42';

type Sdk = typeof import('@main-character/sdk');

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `mcm`, the SDK package's command-line tool, as a new user runs it: the packed tarball installed
 * in a fresh folder, `npx mcm …` there, against the whole stack running as separate processes.
 */
describe('the mcm command line, end to end', () => {
  let installed: InstalledSdk;
  let testEnv: TestEnv;
  let stack: Stack;
  let storage: StorageRepository;
  let client: InstanceType<Sdk['MomentsClient']>;
  let workdir: string;
  let completedId: string;
  let failedId: string;

  /** Runs `npx mcm …` in the consumer folder; the server comes from MCM_BASE_URL, as a user would set it. */
  const mcm = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Outcome> =>
    new Promise((done) => {
      // Only the token a test passes: none leaks in from the shell that runs the tests (undefined is left out).
      const childEnv: NodeJS.ProcessEnv = { ...process.env, npm_config_update_notifier: 'false', MCM_BASE_URL: stack.apiUrl, MCM_ADMIN_TOKEN: undefined, ...env };
      execFile('npx', ['mcm', ...args], { cwd: installed.dir, env: childEnv, maxBuffer: 16 * 1024 * 1024, timeout: 150_000 }, (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        done({ code, stdout, stderr });
      });
    });

  beforeAll(async () => {
    const [sdkInstall, env] = await Promise.all([packAndInstallSdk(), createTestEnv({ ADMIN_TOKEN })]);
    installed = sdkInstall;
    testEnv = env;
    // No worker yet: the moment meant to fail has its recording damaged before anything analyses it.
    stack = await startStack({ env: testEnv.env, workers: 0, log: () => undefined });
    storage = storageFromConfig(testEnv.config);
    const sdk = installed.require('@main-character/sdk') as Sdk;
    client = new sdk.MomentsClient({ baseUrl: stack.apiUrl });
    workdir = await mkdtemp(join(tmpdir(), 'mcm-cli-e2e-'));

    failedId = (await client.createMoment(HUM, { style: 'anthem' })).id;
    const [original] = await storage.listKeys(`moments/${failedId}/original`);
    await storage.putBuffer(original, randomBytes(20_000), 'audio/mp4');
    await stack.addWorker();
  });

  afterAll(async () => {
    await stack?.stop();
    storage?.destroy();
    await testEnv?.cleanup();
    if (workdir) await rm(workdir, { recursive: true, force: true });
  });

  it('has --help on every command, exit 0', async () => {
    for (const command of ['', 'create', 'status', 'watch', 'delete', 'jobs', 'retry']) {
      const { code, stdout } = await mcm(command ? [command, '--help'] : ['--help']);
      expect(code, command).toBe(0);
      expect(stdout).toContain(`Usage: mcm ${command}`.trimEnd());
      expect(stdout).toContain('--base-url');
    }
  });

  it('exits 2 on bad usage, saying why', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['create', join(workdir, 'missing.m4a')], /no such file/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['status'], /missing required argument 'id'/],
      [['create', HUM, '--output-kind', 'opera'], /Allowed choices are preview, song/],
      [['jobs', '--status', 'FAILED'], /--admin-token or MCM_ADMIN_TOKEN/],
      [[], /Usage: mcm/],
    ];
    for (const [args, message] of cases) {
      const outcome = await mcm(args);
      expect(outcome.code, args.join(' ')).toBe(2);
      expect(outcome.stderr).toMatch(message);
    }
  });

  it('create uploads, reports each stage, and saves a real preview MP3', async () => {
    const out = join(workdir, 'x.mp3');
    const { code, stdout, stderr } = await mcm(['create', HUM, '--style', 'lofi', '--title', 'Night drive', '--out', out, '--json']);
    expect(code, stderr).toBe(0);
    const result = JSON.parse(stdout) as { id: string; status: string; out: string; bytes: number; moment: { blueprint_json: unknown; style: string; title: string } };
    expect(result).toMatchObject({ status: 'COMPLETED', out, moment: { style: 'lofi', title: 'Night drive' } });
    completedId = result.id;

    // Not a terminal: one plain progress line per change, naming the status and stage.
    const lines = stderr.trim().split('\n');
    for (const stage of ['analyze', 'compose', 'validate', 'mix']) expect(lines.some((line) => line.includes(`· ${stage}`))).toBe(true);
    expect(lines.at(-1)).toMatch(/^100%\s+COMPLETED$/);
    expect(stderr).not.toContain('\r');

    const bytes = await readFile(out);
    expect(bytes.length).toBe(result.bytes);
    const isMp3 = bytes.subarray(0, 3).toString('latin1') === 'ID3' || (bytes[0] === 0xff && (bytes[1] & 0xe0) === 0xe0);
    expect(isMp3).toBe(true);
    const probe = await probeAudio(out, { format: 'mp3' });
    expect(probe.codec).toMatch(/mp3/);
    expect(Math.abs(probe.duration_s - blueprintDurationSeconds(result.moment.blueprint_json as Blueprint))).toBeLessThan(0.1);
  });

  it('status and watch show a completed moment, exit 0', async () => {
    const text = await mcm(['status', completedId]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/status\s+COMPLETED/);
    const json = await mcm(['status', completedId, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ id: completedId, status: 'COMPLETED', progress: 1 });

    const watched = await mcm(['watch', completedId, '--json']);
    expect(watched.code).toBe(0);
    const events = watched.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { status: string });
    expect(events[0].status).toBe('PENDING');
    expect(events.at(-1)).toMatchObject({ id: completedId, status: 'COMPLETED' });
  });

  it('a failed moment: status and watch exit 1, jobs lists it, retry resumes it to COMPLETED', async () => {
    await client.waitForMoment(failedId, { timeoutMs: 90_000 }).catch(() => undefined);
    const status = await mcm(['status', failedId]);
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/status\s+FAILED/);
    expect(status.stdout).toContain('AUDIO_UNDECODABLE');
    const watched = await mcm(['watch', failedId]);
    expect(watched.code).toBe(1);
    expect(watched.stderr).toContain('AUDIO_UNDECODABLE');

    const admin = { MCM_ADMIN_TOKEN: ADMIN_TOKEN };
    const listed = await mcm(['jobs', '--status', 'FAILED', '--json'], admin);
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as { items: Array<{ id: string }> }).items.map((item) => item.id)).toEqual([failedId]);
    const table = await mcm(['jobs', '--status', 'FAILED', '--admin-token', ADMIN_TOKEN]);
    expect(table.stdout).toMatch(new RegExp(`^${failedId}\\s+FAILED\\s+.*analyze AUDIO_UNDECODABLE$`, 'm'));
    const wrongToken = await mcm(['jobs', '--admin-token', 'not-the-admin-token-0000']);
    expect(wrongToken.code).toBe(1);

    // The recording is repaired; the operator's retry starts the failed stage again.
    const [original] = await storage.listKeys(`moments/${failedId}/original`);
    await storage.putBuffer(original, readFileSync(HUM), 'audio/mp4');
    const retried = await mcm(['retry', failedId, '--json'], admin);
    expect(retried.code, retried.stderr).toBe(0);
    const resuming = JSON.parse(retried.stdout) as { id: string; status: string };
    expect(resuming.id).toBe(failedId);
    expect(['PENDING', 'ANALYZING']).toContain(resuming.status);
    const resumed = await mcm(['watch', failedId]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain(`${failedId} COMPLETED`);
  });

  it('delete removes the moment; reading it afterwards exits 1 with MOMENT_DELETED', async () => {
    const deleted = await mcm(['delete', completedId, '--json']);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(JSON.parse(deleted.stdout)).toEqual({ id: completedId, deleted: true });
    expect(await storage.listKeys(`moments/${completedId}/`)).toEqual([]);
    const gone = await mcm(['status', completedId, '--json']);
    expect(gone.code).toBe(1);
    expect(JSON.parse(gone.stdout)).toMatchObject({ error: { status: 410, code: 'MOMENT_DELETED' } });
  });
});
