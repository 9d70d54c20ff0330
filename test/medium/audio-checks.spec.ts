import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Client } from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ffmpegBinary, ffmpegInput, runFfmpeg } from '@mcm/audio';
import { ffmpegLauncher } from '@mcm/audio/io/ffmpeg-launcher';
import { storageFromConfig, type StorageRepository } from '@mcm/core';
import { startApi as startInProcessApi } from '../support/in-process-api';
import { createTestEnv, type TestEnv } from '../support/test-env';

/**
 * The api's audio check under load and abandonment, through HTTP against the real api and ffmpeg:
 * ffmpeg goes when the client goes, at most MAX_CONCURRENT_PROBES checks run at once, and a check
 * that overruns PROBE_TIMEOUT_MS is stopped. The decoders are found among this process's ffmpeg runs
 * (the api runs in it; the runs are its fork server's children) by the spool directory in their
 * arguments, and held with SIGSTOP, so no outcome depends on how fast the machine is.
 */

const M4A = readFileSync(join(__dirname, '../fixtures/hum-phone.m4a'));
const BOUNDARY = 'auditchecksboundary';

function multipart(file: Buffer, filename: string): Buffer {
  return Buffer.concat([
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    file,
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ]);
}

/** Running (not yet reaped) ffmpeg runs of this process (its children, or its fork server's) whose arguments name `directory`. */
function decodersUnder(directory: string, server: number | undefined): number[] {
  const parents = new Set([process.pid, server]);
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const [state, parent] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return basename(argv[0]).startsWith('ffmpeg') && argv.some((arg) => arg.includes(directory)) && parents.has(Number(parent)) && state !== 'Z';
      } catch {
        return false; // it ended while being read
      }
    });
}

function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('the audio check of an upload', () => {
  let testEnv: TestEnv;
  let db: Client;
  let storage: StorageRepository;
  let spool: string;
  let madeDir: string;
  /** 61 s of 7.1 silence at 384 kHz: a few kB of FLAC that keeps a decoder busy long enough to be caught. */
  let heavy: Buffer;
  const apps: INestApplication[] = [];
  const held: number[] = [];

  const startApi = async (overrides: NodeJS.ProcessEnv): Promise<string> => {
    const { app, base } = await startInProcessApi({ ...testEnv.env, ...overrides });
    apps.push(app);
    return base;
  };

  const post = (base: string, file: Buffer, filename: string) =>
    fetch(`${base}/v1/moments`, { method: 'POST', body: new Uint8Array(multipart(file, filename)), headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` } });

  /** Waits for the upload's decoder to start, then stops it where it is. */
  const holdDecoder = async (): Promise<number> => {
    const server = (await ffmpegLauncher())?.pid;
    await expect.poll(() => decodersUnder(spool, server), { timeout: 20_000, interval: 2 }).toHaveLength(1);
    const [pid] = decodersUnder(spool, server);
    process.kill(pid, 'SIGSTOP');
    held.push(pid);
    return pid;
  };

  const rowCount = async () => Number((await db.query('SELECT count(*) FROM moments')).rows[0].count);
  const objectKeys = () => storage.listKeys('moments/');

  beforeAll(async () => {
    testEnv = await createTestEnv({ MAX_AUDIO_SECONDS: '60' });
    madeDir = mkdtempSync(join(tmpdir(), 'mcm-audio-checks-made-'));
    const heavyFile = join(madeDir, 'heavy.flac');
    await runFfmpeg([...ffmpegInput('anullsrc=r=384000:cl=7.1', 'lavfi'), '-t', '61', '-c:a', 'flac', '-frame_size', '65535', '-y', heavyFile]);
    heavy = readFileSync(heavyFile);
    // Uploads are spooled under os.tmpdir(): a directory only this file's decoders will name.
    spool = mkdtempSync(join(tmpdir(), 'mcm-audio-checks-'));
    process.env.TMPDIR = spool;
    db = new Client({ connectionString: testEnv.config.DATABASE_URL });
    await db.connect();
    storage = storageFromConfig(testEnv.config);
    await storage.ensureBucket();
  });

  afterEach(() => {
    for (const pid of held.splice(0)) {
      if (running(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await db?.end();
    storage?.destroy();
    await testEnv?.cleanup();
    rmSync(spool, { recursive: true, force: true });
    rmSync(madeDir, { recursive: true, force: true });
  });

  it('stops its ffmpeg when the client goes away, and stores nothing', async () => {
    const base = await startApi({ PROBE_TIMEOUT_MS: '600000' });
    const [rows, objects] = [await rowCount(), await objectKeys()];
    const body = multipart(heavy, 'long.flac');
    const { port } = new URL(base);
    const socket = connect(Number(port), '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(`POST /v1/moments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: ${body.length}\r\n\r\n`);
    socket.write(body);
    // Held, the decoder cannot finish on its own: only the client leaving can end it now.
    const pid = await holdDecoder();
    socket.destroy();
    await expect.poll(() => running(pid), { timeout: 10_000 }).toBe(false);
    await expect.poll(() => readdirSync(spool), { timeout: 5_000 }).toEqual([]);
    expect(await rowCount()).toBe(rows);
    expect(await objectKeys()).toEqual(objects);
  });

  it('runs at most MAX_CONCURRENT_PROBES checks: the next upload gets 503 AUDIO_ENGINE_BUSY with Retry-After, and nothing is stored', async () => {
    const base = await startApi({ MAX_CONCURRENT_PROBES: '1', PROBE_TIMEOUT_MS: '600000' });
    const [rows, objects] = [await rowCount(), await objectKeys()];
    const first = post(base, heavy, 'long.flac');
    const pid = await holdDecoder();

    const busy = await post(base, M4A, 'hum.m4a');
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('2');
    expect(busy.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await busy.json()).toMatchObject({ status: 503, code: 'AUDIO_ENGINE_BUSY' });
    expect(await rowCount()).toBe(rows);
    expect(await objectKeys()).toEqual(objects);

    process.kill(pid, 'SIGCONT');
    const answered = await first;
    expect({ status: answered.status, code: ((await answered.json()) as { code: string }).code }).toEqual({ status: 422, code: 'AUDIO_TOO_LONG' });
    // The slot is free again.
    expect((await post(base, M4A, 'hum.m4a')).status).toBe(202);
    expect(await rowCount()).toBe(rows + 1);
  });

  it('stops a check that overruns PROBE_TIMEOUT_MS: 503 AUDIO_CHECK_TIMEOUT with Retry-After, and nothing is stored', async () => {
    const base = await startApi({ PROBE_TIMEOUT_MS: '500' });
    const [rows, objects] = [await rowCount(), await objectKeys()];
    const answer = post(base, heavy, 'long.flac');
    const pid = await holdDecoder();
    const response = await answer;
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('2');
    expect(await response.json()).toMatchObject({ status: 503, code: 'AUDIO_CHECK_TIMEOUT' });
    expect(running(pid)).toBe(false);
    expect(await rowCount()).toBe(rows);
    expect(await objectKeys()).toEqual(objects);
    expect(readdirSync(spool)).toEqual([]);
  });

  it('says on /readyz which ffmpeg decodes uploads, ready or not, without its path', async () => {
    const base = await startApi({});
    // No music-tools runs here, so the api is not ready; the answer still names its ffmpeg.
    const body = (await (await fetch(`${base}/readyz`)).json()) as { ffmpeg?: Record<string, string> };
    const { version, source } = ffmpegBinary();
    expect(body.ffmpeg).toEqual({ version, source });
  });
});
