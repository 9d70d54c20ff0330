import { randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { Queue } from 'bullmq';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MomentLifecycle, MomentRetention, MomentsRepository, RETENTION_QUEUE, RETENTION_SCHEDULER_ID, StorageRepository, loadConfig, redisOptions, type AppConfig } from '@mcm/core';
import { OutputKind, storageKey, type MomentEvent } from '@mcm/pipeline';
import { Reconciler } from '../../apps/worker/src/reconciler.service';
import { RetentionProcessor } from '../../apps/worker/src/retention.processor';
import { WorkerModule } from '../../apps/worker/src/worker.module';
import { fourSectionBlueprint } from '../support/blueprints';
import { startApiWorld, type ApiWorld } from '../support/in-process-api';
import { createTestEnv, type TestEnv } from '../support/test-env';

const ADMIN_TOKEN = 'retention-admin-token-0123';
const HOUR_MS = 3_600_000;
const FILES = ['original.m4a', 'stems/vocals.wav', 'stems/instrumental.wav', 'preview.mp3', 'master.wav', 'arrangement.mid', 'peaks.json'];
const KEPT = ['preview.mp3', 'master.wav', 'arrangement.mid', 'peaks.json'];

/** Every stage's result, as the worker reports them, with the keys of the objects each one stored. */
function stageResults(id: string): MomentEvent[] {
  const key = (name: string) => storageKey(id, name);
  const analysis = { duration_s: 12, tempo_bpm: 96, key: 'Am' } as never;
  return [
    { type: 'STAGE_SUCCEEDED', stage: 'analyze', output: { analysis }, durationMs: 5 },
    { type: 'STAGE_SUCCEEDED', stage: 'compose', output: { blueprint: fourSectionBlueprint({ id: 'bp', style: 'cinematic', tempo_bpm: 96, key: 'Am' }) }, durationMs: 5 },
    { type: 'STAGE_SUCCEEDED', stage: 'validate', output: { ok: true, errors: [] }, durationMs: 5 },
    { type: 'STAGE_SUCCEEDED', stage: 'render_vocals', output: { key: key('stems/vocals.wav') }, durationMs: 5 },
    { type: 'STAGE_SUCCEEDED', stage: 'render_instrumental', output: { key: key('stems/instrumental.wav') }, durationMs: 5 },
    {
      type: 'STAGE_SUCCEEDED',
      stage: 'mix',
      output: { preview: key('preview.mp3'), master: key('master.wav'), midi: key('arrangement.mid'), peaks: key('peaks.json'), duration_ms: 20_000, loudness_lufs: -14, true_peak_dbtp: -1.2 },
      durationMs: 5,
    },
  ];
}

/**
 * The retention pass for real against Postgres and the embedded S3: recordings of finished
 * moments older than RETENTION_DAYS expire, objects without a row go after the grace period,
 * objects of deleted moments go at once, and everything else stays.
 */
describe('retention pass', () => {
  let world: ApiWorld;
  let testEnv: TestEnv;
  let config: AppConfig;
  let app: INestApplication;
  let base: string;
  let db: Client;
  let storage: StorageRepository;
  let lifecycle: MomentLifecycle;
  let retention: MomentRetention;

  beforeAll(async () => {
    world = await startApiWorld({ ADMIN_TOKEN, RETENTION_DAYS: '30', SWEEP_GRACE_SECONDS: '3600' });
    ({ testEnv, app, config, base, db } = world);
    storage = app.get(StorageRepository);
    lifecycle = app.get(MomentLifecycle);
    retention = new MomentRetention(app.get(MomentsRepository), lifecycle, storage, config);
  });

  afterAll(() => world?.close());

  /** A moment with every object stored, driven by its machine to `until`, created `ageDays` ago. */
  async function moment(until: 'completed' | 'failed' | 'in progress', ageDays: number): Promise<string> {
    const id = randomUUID();
    for (const name of FILES) await storage.putBuffer(storageKey(id, name), Buffer.from(`${name} of ${id}`), 'application/octet-stream');
    await lifecycle.create({ momentId: id, outputKind: OutputKind.Preview, originalKey: storageKey(id, 'original.m4a'), title: 'Morning run' });
    const results = stageResults(id);
    if (until === 'completed') for (const event of results) await lifecycle.apply(id, event);
    if (until === 'failed') {
      for (const event of results.slice(0, 4)) await lifecycle.apply(id, event);
      await lifecycle.apply(id, { type: 'STAGE_FAILED', stage: 'render_instrumental', error: { code: 'AUDIO_ENGINE_FAILED', message: 'no', retryable: false } });
    }
    await db.query(`UPDATE moments SET created_at = now() - make_interval(days => $2) WHERE id = $1`, [id, ageDays]);
    return id;
  }
  const names = async (id: string) => (await storage.listKeys(`moments/${id}/`)).map((key) => key.slice(`moments/${id}/`.length)).sort();
  const row = async (id: string) => (await db.query('SELECT status, assets, snapshot, assets_expired_at FROM moments WHERE id = $1', [id])).rows[0];

  it('expires the recording and stems of finished moments older than RETENTION_DAYS, and nothing else', async () => {
    const oldCompleted = await moment('completed', 31);
    const oldFailed = await moment('failed', 40);
    const oldInProgress = await moment('in progress', 31);
    const recent = await moment('completed', 29);
    const before = new Date();

    const report = await retention.sweep();

    expect(report.expired).toBe(2);
    for (const id of [oldCompleted, oldFailed]) {
      expect(await names(id)).toEqual([...KEPT].sort());
      const expired = await row(id);
      expect(expired.assets_expired_at.getTime()).toBeGreaterThanOrEqual(before.getTime() - 1000);
      expect(Object.keys(expired.assets)).not.toEqual(expect.arrayContaining(['original']));
      expect(expired.assets).not.toHaveProperty('vocals');
      expect(expired.assets).not.toHaveProperty('instrumental');
      expect(expired.snapshot.context.assets).toEqual(expired.assets);
    }
    expect((await row(oldCompleted)).assets).toEqual({
      preview: storageKey(oldCompleted, 'preview.mp3'),
      master: storageKey(oldCompleted, 'master.wav'),
      midi: storageKey(oldCompleted, 'arrangement.mid'),
      peaks: storageKey(oldCompleted, 'peaks.json'),
    });
    for (const id of [oldInProgress, recent]) {
      expect(await names(id)).toEqual([...FILES].sort());
      expect((await row(id)).assets_expired_at).toBeNull();
    }
    expect((await row(oldInProgress)).status).toBe('PENDING');

    // A second pass finds nothing more to do.
    expect(await retention.sweep()).toEqual({ expired: 0, removedObjects: 0 });
  });

  it('shows an expired moment with null URLs for the recording and stems, and refuses to retry it', async () => {
    const completed = await moment('completed', 45);
    const failed = await moment('failed', 45);
    await retention.sweep();

    const view = await (await fetch(`${base}/v1/moments/${completed}`)).json();
    expect(view).toMatchObject({
      status: 'COMPLETED',
      original_audio_url: null,
      assets: { original: null, vocals: null, instrumental: null },
      assets_expired_at: expect.any(String),
      deleted_at: null,
    });
    expect(view.final_audio_url).toContain(`/moments/${completed}/preview.mp3?`);
    expect((await fetch(view.final_audio_url)).status).toBe(200);

    const retry = await fetch(`${base}/v1/admin/jobs/${failed}/retry`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(retry.status).toBe(409);
    expect((await retry.json()).code).toBe('MOMENT_EXPIRED');
    expect((await row(failed)).status).toBe('FAILED');
    const history = (await (await fetch(`${base}/v1/admin/jobs/${failed}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()).history;
    expect(history.at(-1)).toMatchObject({ event_type: 'ASSETS_EXPIRED', applied: true });
  });

  it('removes objects without a row only after the grace period, and objects of deleted moments at once', async () => {
    const orphan = randomUUID();
    await storage.putBuffer(storageKey(orphan, 'original.wav'), Buffer.from('stored just before a crash'), 'audio/wav');
    await storage.putBuffer('moments/not-a-moment/original.wav', Buffer.from('?'), 'audio/wav');
    await storage.putBuffer('elsewhere/keep.txt', Buffer.from('not ours'), 'text/plain');
    const deleted = await moment('completed', 1);
    const live = await moment('completed', 1);
    await lifecycle.delete(deleted, 'client');
    // What a stage that was still running stores after the delete.
    await storage.putBuffer(storageKey(deleted, 'stems/vocals.wav'), Buffer.from('late'), 'audio/wav');

    await retention.sweep();
    expect(await names(deleted)).toEqual([]);
    expect(await storage.listKeys(`moments/${orphan}/`)).toEqual([storageKey(orphan, 'original.wav')]);
    expect(await storage.listKeys('moments/not-a-moment/')).toHaveLength(1);

    // An hour and more later, as the scheduler would see it.
    await retention.sweep(new Date(Date.now() + HOUR_MS + 60_000));
    expect(await storage.listKeys(`moments/${orphan}/`)).toEqual([]);
    expect(await storage.listKeys('moments/not-a-moment/')).toEqual([]);
    expect(await storage.listKeys('elsewhere/')).toEqual(['elsewhere/keep.txt']);
    expect(await names(live)).toEqual([...FILES].sort());
  });

  it('keeps recordings for ever with RETENTION_DAYS=0', async () => {
    const id = await moment('completed', 4000);
    const forever = new MomentRetention(app.get(MomentsRepository), lifecycle, storage, loadConfig({ ...testEnv.env, RETENTION_DAYS: '0' }));
    expect((await forever.sweep()).expired).toBe(0);
    expect(await names(id)).toEqual([...FILES].sort());
    expect((await row(id)).assets_expired_at).toBeNull();
  });
});

/** The worker registers the pass as a BullMQ job scheduler in Redis and runs it. */
describe('retention schedule', () => {
  let testEnv: TestEnv;
  let worker: TestingModule;
  let queue: Queue;
  let storage: StorageRepository;

  beforeAll(async () => {
    testEnv = await createTestEnv({ SWEEP_INTERVAL_SECONDS: '1', SWEEP_GRACE_SECONDS: '0' });
    worker = await Test.createTestingModule({ imports: [WorkerModule.forRoot(testEnv.config)] }).compile();
    await worker.init();
    storage = worker.get(StorageRepository);
    await storage.ensureBucket();
    queue = new Queue(RETENTION_QUEUE, { connection: redisOptions(testEnv.config.REDIS_URL), prefix: testEnv.config.QUEUE_PREFIX });
  });

  afterAll(async () => {
    await queue?.close();
    await worker?.close();
    await testEnv?.cleanup();
  });

  async function until<T>(what: string, probe: () => Promise<T | undefined | false>): Promise<T> {
    for (let i = 0; i < 200; i += 1) {
      const value = await probe();
      if (value) return value;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`gave up waiting for ${what}`);
  }

  it('registers a job scheduler with the configured interval', async () => {
    const scheduler = await until('the scheduler', () => queue.getJobScheduler(RETENTION_SCHEDULER_ID));
    expect(scheduler).toMatchObject({ key: RETENTION_SCHEDULER_ID, name: 'sweep', every: 1000 });
    expect(await queue.getJobSchedulersCount()).toBe(1);
  });

  it('leaves an unchanged schedule alone when registered again (its next run does not move), and applies a new interval', async () => {
    const hourly = new Queue(RETENTION_QUEUE, { connection: redisOptions(testEnv.config.REDIS_URL), prefix: `${testEnv.config.QUEUE_PREFIX}-hourly` });
    try {
      // No worker serves this prefix: the schedule stays as registered.
      const schedule = (seconds: number) => new RetentionProcessor(worker.get(MomentRetention), hourly, { SWEEP_INTERVAL_SECONDS: seconds });
      await schedule(3600).ensureScheduled();
      const first = await hourly.getJobScheduler(RETENTION_SCHEDULER_ID);
      expect(first).toMatchObject({ every: 3_600_000, next: expect.any(Number) });
      await new Promise((resolve) => setTimeout(resolve, 20));
      await schedule(3600).ensureScheduled();
      expect(await hourly.getJobScheduler(RETENTION_SCHEDULER_ID)).toEqual(first);
      await schedule(60).ensureScheduled();
      expect(await hourly.getJobScheduler(RETENTION_SCHEDULER_ID)).toMatchObject({ every: 60_000 });
      expect(await hourly.getJobSchedulersCount()).toBe(1);
    } finally {
      await hourly.obliterate({ force: true });
      await hourly.close();
    }
  });

  it('runs the pass from the schedule: an object without a row goes', async () => {
    const orphan = storageKey(randomUUID(), 'original.wav');
    await storage.putBuffer(orphan, Buffer.from('left by a crash'), 'audio/wav');
    await until('the orphan to be swept', async () => (await storage.listKeys(orphan)).length === 0);
    // The pass deletes the object before BullMQ records the job as completed: wait for the record too.
    const sweptBySchedule = async () => (await queue.getJobs(['completed'])).some((job) => job.name === 'sweep' && job.repeatJobKey === RETENTION_SCHEDULER_ID);
    expect(await until('a scheduled sweep to be recorded as completed', sweptBySchedule)).toBe(true);
  });

  it('registers the schedule again when Redis lost it', async () => {
    await queue.removeJobScheduler(RETENTION_SCHEDULER_ID);
    expect(await queue.getJobScheduler(RETENTION_SCHEDULER_ID)).toBeUndefined();
    await worker.get(Reconciler).tick();
    expect(await queue.getJobScheduler(RETENTION_SCHEDULER_ID)).toMatchObject({ every: 1000 });
  });
});
