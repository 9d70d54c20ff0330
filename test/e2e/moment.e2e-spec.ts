import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Midi } from '@tonejs/midi';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arrange, measureLoudness, probeAudio } from '@mcm/audio';
import { storageFromConfig, type StorageRepository } from '@mcm/core';
import { blueprintDurationSeconds, type Blueprint } from '@mcm/pipeline';
import { startStack, stopApp, type Stack } from '../../scripts/stack';
import { packAndInstallSdk } from '../sdk/pack-sdk';
import { createTestEnv, type TestEnv } from '../support/test-env';

const FIXTURES = resolve(__dirname, '../fixtures');
const ADMIN_TOKEN = 'e2e-admin-token-0123456789';

type Sdk = typeof import('@main-character/sdk');

/**
 * The whole stack as separate processes — api, two workers, music-tools — over real Postgres,
 * Redis and S3-compatible storage, driven through the packed SDK as a client would.
 */
describe('a moment, end to end', () => {
  let testEnv: TestEnv;
  let stack: Stack;
  let sdk: Sdk;
  let client: InstanceType<Sdk['MomentsClient']>;
  let admin: InstanceType<Sdk['MomentsClient']>;
  let storage: StorageRepository;
  let db: Client;
  let workdir: string;
  const logs: string[] = [];

  beforeAll(async () => {
    const [installed, env] = await Promise.all([packAndInstallSdk(), createTestEnv({ ADMIN_TOKEN, MCP_AUTH_TOKEN: 'e2e-music-tools-token' })]);
    testEnv = env;
    sdk = installed.require('@main-character/sdk') as Sdk;
    stack = await startStack({ env: testEnv.env, workers: 2, log: (app, line) => logs.push(`[${app}] ${line}`) });
    client = new sdk.MomentsClient({ baseUrl: stack.apiUrl });
    admin = new sdk.MomentsClient({ baseUrl: stack.apiUrl, adminToken: ADMIN_TOKEN });
    storage = storageFromConfig(testEnv.config);
    db = new Client({ connectionString: testEnv.config.DATABASE_URL });
    await db.connect();
    workdir = await mkdtemp(join(tmpdir(), 'mcm-e2e-'));
  });

  afterAll(async () => {
    await db?.end();
    await stack?.stop();
    storage?.destroy();
    await testEnv?.cleanup();
    if (workdir) await rm(workdir, { recursive: true, force: true });
  });

  it('turns the phone recording into a mastered preview', async () => {
    const created = await client.createMoment(join(FIXTURES, 'hum-phone.m4a'), { style: 'cinematic', title: 'Morning run' });
    expect(created.status).toBe('PENDING');
    expect(created.job_id).toBe(created.id);

    const seen = new Set<string>();
    const moment = await client.waitForMoment(created.id, { timeoutMs: 90_000, intervalMs: 50, onProgress: (update) => seen.add(update.status) });
    expect(moment.status).toBe('COMPLETED');
    expect(moment.progress).toBe(1);
    expect(moment.error).toBeNull();
    expect([...seen].at(-1)).toBe('COMPLETED');
    for (const stage of ['analyze', 'compose', 'validate', 'render_vocals', 'render_instrumental', 'mix']) {
      expect(moment.timings_ms?.[stage as keyof typeof moment.timings_ms]).toBeGreaterThan(0);
    }

    const analysis = moment.analysis as { duration_s: number; key: string; tempo_bpm: number };
    expect(analysis.duration_s).toBeGreaterThan(11);
    expect(analysis.duration_s).toBeLessThan(13);
    const blueprint = moment.blueprint_json as unknown as Blueprint;
    expect(blueprint.key).toBe(analysis.key);

    const previewPath = join(workdir, 'preview.mp3');
    await client.download(moment.final_audio_url!, previewPath);
    const bytes = readFileSync(previewPath);
    const isMp3 = bytes.subarray(0, 3).toString('latin1') === 'ID3' || (bytes[0] === 0xff && (bytes[1] & 0xe0) === 0xe0);
    expect(isMp3).toBe(true);
    const probe = await probeAudio(previewPath, { format: 'mp3' });
    expect(probe.codec).toMatch(/mp3/);
    expect(Math.abs(probe.duration_s - blueprintDurationSeconds(blueprint))).toBeLessThan(0.1);
    const loudness = await measureLoudness(previewPath, 'mp3');
    expect(Math.abs(loudness.integrated_lufs + 14)).toBeLessThanOrEqual(1);
    expect(loudness.true_peak_dbtp).toBeLessThanOrEqual(-1);

    const keys = await storage.listKeys(`moments/${moment.id}/`);
    expect(keys.sort()).toEqual(
      [
        `moments/${moment.id}/arrangement.mid`,
        `moments/${moment.id}/master.wav`,
        `moments/${moment.id}/original.m4a`,
        `moments/${moment.id}/peaks.json`,
        `moments/${moment.id}/preview.mp3`,
        `moments/${moment.id}/stems/instrumental.wav`,
        `moments/${moment.id}/stems/vocals.wav`,
      ].sort(),
    );
    expect(moment.assets.midi).toMatch(/^http/);
    expect(moment.assets.peaks).toMatch(/^http/);

    // The arrangement opens as MIDI with the song's tracks and length; the peaks cover the preview at their resolution.
    const midi = new Midi(await storage.getBuffer(`moments/${moment.id}/arrangement.mid`));
    expect(midi.tracks.map((track) => [track.name, track.instrument.number])).toEqual(arrange(blueprint).tracks.map((track) => [track.name, track.program]));
    expect(midi.header.tempos[0].bpm).toBeCloseTo(blueprint.tempo_bpm, 3);
    expect(Math.abs(midi.duration - blueprintDurationSeconds(blueprint))).toBeLessThan(0.1);
    const peaks = JSON.parse((await storage.getBuffer(`moments/${moment.id}/peaks.json`)).toString('utf8')) as {
      version: number;
      sample_rate: number;
      samples_per_pixel: number;
      length: number;
      data: number[];
    };
    expect(peaks).toMatchObject({ version: 2, channels: 1, bits: 8, sample_rate: 44100 });
    expect(peaks.length).toBe(Math.ceil(Math.round(blueprintDurationSeconds(blueprint) * 44100) / peaks.samples_per_pixel));
    expect(peaks.data).toHaveLength(peaks.length * 2);
    const { rows } = await db.query('SELECT assets, snapshot FROM moments WHERE id = $1', [moment.id]);
    expect(JSON.stringify(rows[0].assets)).not.toMatch(/X-Amz|https?:/);
  });

  it('answers a wrong upload with 4xx and stores nothing', async () => {
    const before = await db.query('SELECT count(*)::int AS n FROM moments');
    const keysBefore = await storage.listKeys('moments/');
    const fake = join(workdir, 'notes.wav');
    await writeFile(fake, 'these are my lyrics, not audio\n'.repeat(50));
    const error = await client.createMoment(fake).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(sdk.MomentsApiError);
    const apiError = error as InstanceType<Sdk['MomentsApiError']>;
    expect(apiError.status).toBeGreaterThanOrEqual(400);
    expect(apiError.status).toBeLessThan(500);
    expect(apiError.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(apiError.problem).toMatchObject({ status: apiError.status, code: 'UNSUPPORTED_MEDIA_TYPE' });
    expect((await db.query('SELECT count(*)::int AS n FROM moments')).rows[0].n).toBe(before.rows[0].n);
    expect(await storage.listKeys('moments/')).toEqual(keysBefore);
  });

  it('listens on loopback only: the api and music-tools bind 127.0.0.1 by default', async () => {
    // 127.0.0.2 is loopback too, but only a server bound to every address answers there.
    const elsewhere = (url: string) =>
      fetch(`http://127.0.0.2:${new URL(url).port}/healthz`).then(
        () => 'answered',
        () => 'refused',
      );
    expect(await fetch(`${stack.apiUrl}/healthz`).then((response) => response.status)).toBe(200);
    expect(await elsewhere(stack.apiUrl)).toBe('refused');
    expect(await elsewhere(stack.mcpUrl)).toBe('refused');
  });

  it('keeps the original routes working', async () => {
    const form = new FormData();
    form.append('file', new Blob([readFileSync(join(FIXTURES, 'voice-clean.wav'))], { type: 'audio/wav' }), 'voice-clean.wav');
    const response = await fetch(`${stack.apiUrl}/v1/create-moment`, { method: 'POST', body: form });
    expect(response.ok).toBe(true);
    const { job_id } = (await response.json()) as { job_id: string };
    expect(job_id).toMatch(/^[0-9a-f-]{36}$/);
    let status: Record<string, unknown> = {};
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      status = (await (await fetch(`${stack.apiUrl}/v1/status/${job_id}`)).json()) as Record<string, unknown>;
      if (['COMPLETED', 'FAILED', 'CANCELED'].includes(status.status as string)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toMatchObject({ id: job_id, status: 'COMPLETED' });
    expect(status.original_audio_url).toMatch(/^http/);
    expect(status.final_audio_url).toMatch(/^http/);
    expect(status.blueprint_json).toMatchObject({ id: job_id });
  });

  it('lets an operator resume a moment that failed at a stage, without redoing finished stages', async () => {
    // A deployment mistake: the only worker running holds the wrong music-tools token.
    const healthy = stack.apps.filter((app) => app.name.startsWith('worker'));
    await Promise.all(healthy.map((app) => stopApp(app)));
    const misconfigured = await stack.addWorker({ MCP_AUTH_TOKEN: 'not-the-music-tools-token' });
    const created = await client.createMoment(join(FIXTURES, 'hum-phone.m4a'), { style: 'lofi' });
    const failed = await client.waitForMoment(created.id, { timeoutMs: 60_000 }).catch((error: { moment?: { status: string } }) => error.moment);
    expect(failed?.status).toBe('FAILED');
    const inspected = await admin.getJob(created.id);
    expect(inspected.error).toMatchObject({ stage: 'validate', code: 'MCP_UNAUTHORIZED', retryable: false });

    const analyzedBefore = inspected.history.filter((row) => row.event_type === 'STAGE_SUCCEEDED' && row.stage === 'analyze' && row.applied);
    expect(analyzedBefore).toHaveLength(1);

    await stopApp(misconfigured);
    await Promise.all(healthy.map((app) => stack.restart(app.name)));
    const retried = await admin.retryJob(created.id);
    expect(['ANALYZING', 'RENDERING', 'MIXING', 'COMPLETED']).toContain(retried.status);
    const completed = await client.waitForMoment(created.id, { timeoutMs: 90_000 });
    expect(completed.status).toBe('COMPLETED');

    const history = (await admin.getJob(created.id)).history;
    const applied = (stage: string) => history.filter((row) => row.event_type === 'STAGE_SUCCEEDED' && row.stage === stage && row.applied);
    expect(applied('analyze')).toHaveLength(1);
    expect(applied('compose')).toHaveLength(1);
    expect(applied('validate')).toHaveLength(1);
    expect(applied('mix')).toHaveLength(1);
    expect(history.some((row) => row.event_type === 'RETRY' && row.applied)).toBe(true);
  });
});
