import { randomUUID } from 'node:crypto';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Test, type TestingModule } from '@nestjs/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Client } from 'pg';
import { CoreModule, loadConfig, MOMENT_CHANGED_CHANNEL, MomentLifecycle, MomentsRepository, StageQueue } from '@mcm/core';
import { backoffMs, OutputKind, STAGES, stageJobId, type Blueprint, type MomentEvent } from '@mcm/pipeline';
import { WorkerModule } from '../../apps/worker/src/worker.module';
import { fourSectionBlueprint, TEN_HOUR_BLUEPRINT } from '../support/blueprints';
import { createTestEnv, type TestEnv } from '../support/test-env';

const analysis = { duration_s: 12, tempo_bpm: 96, key: 'Am' } as never;
const analyzed: MomentEvent = { type: 'STAGE_SUCCEEDED', stage: 'analyze', output: { analysis }, durationMs: 42 };

describe('moment lifecycle against Postgres and Redis', () => {
  let testEnv: TestEnv;
  let module: TestingModule;
  let lifecycle: MomentLifecycle;
  let moments: MomentsRepository;
  let queue: StageQueue;

  beforeAll(async () => {
    testEnv = await createTestEnv();
    module = await Test.createTestingModule({ imports: [CoreModule.forRoot(testEnv.config)] }).compile();
    await module.init();
    lifecycle = module.get(MomentLifecycle);
    moments = module.get(MomentsRepository);
    queue = module.get(StageQueue);
  });

  afterAll(async () => {
    await module?.close();
    await testEnv?.cleanup();
  });

  const create = () => lifecycle.create({ momentId: randomUUID(), outputKind: OutputKind.Preview, originalKey: 'moments/x/original.m4a' });

  it('stores a new moment and enqueues its analysis after commit', async () => {
    const moment = await create();
    expect(moment.status).toBe('PENDING');
    expect(moment.machineVersion).toBe(1);
    const job = await queue.queue('analyze').getJob(stageJobId(moment.id, { stage: 'analyze', run: 1, attempt: 1 }));
    expect(job?.data).toEqual({ momentId: moment.id, stage: 'analyze', run: 1, attempt: 1 });
    expect(await job?.getState()).toBe('waiting');
  });

  it('applies concurrent duplicate results exactly once', async () => {
    const moment = await create();
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => lifecycle.apply(moment.id, analyzed)));
    expect(outcomes.filter((outcome) => outcome?.applied)).toHaveLength(1);
    const history = await moments.history(moment.id);
    const results = history.filter((row) => row.eventType === 'STAGE_SUCCEEDED' && row.stage === 'analyze');
    expect(results).toHaveLength(8);
    expect(results.filter((row) => row.applied)).toHaveLength(1);
    const stored = await moments.findById(moment.id);
    expect(stored?.status).toBe('ANALYZING');
    expect(stored?.stage).toBe('compose');
    expect(stored?.timingsMs).toEqual({ analyze: 42 });
    const compose = await queue.queue('compose').getJob(stageJobId(moment.id, { stage: 'compose', run: 1, attempt: 1 }));
    expect(compose).toBeTruthy();
    expect(await compose?.getState()).toBe('waiting');
    expect(compose?.opts.delay ?? 0).toBe(0);
  });

  it("reads a stage queue's depth from BullMQ: jobs by state and how long the oldest has waited", async () => {
    const moment = await create();
    const waiting = await queue.queue('analyze').getWaiting();
    const oldest = Math.min(...waiting.map((job) => job.timestamp));
    const depth = await queue.depth('analyze', oldest + 5_000);
    expect(depth).toMatchObject({ stage: 'analyze', waiting: waiting.length, active: 0, oldestWaitingSeconds: 5 });
    expect(waiting.map((job) => job.data.momentId)).toContain(moment.id);
    // A retry waiting out its backoff is delayed, not waiting.
    await lifecycle.apply(moment.id, analyzed);
    await lifecycle.apply(moment.id, { type: 'STAGE_FAILED', stage: 'compose', error: { code: 'MCP_UNAVAILABLE', message: 'down', retryable: true } });
    expect((await queue.depth('compose')).delayed).toBeGreaterThanOrEqual(1);
    expect(await queue.depth('mix')).toEqual({ stage: 'mix', waiting: 0, active: 0, delayed: 0, oldestWaitingSeconds: 0 });
  });

  it('writes a create in one statement, and a change in two (the row, then the change if the row is still at the version read), with what Postgres filled in', async () => {
    const statements = vi.spyOn(Client.prototype, 'query');
    try {
      const moment = await create();
      expect(statements).toHaveBeenCalledTimes(1);
      statements.mockClear();
      const outcome = await lifecycle.apply(moment.id, analyzed);
      // The row with its version, then the row, its history row and notice in one statement that checks the version.
      expect(statements).toHaveBeenCalledTimes(2);
      // Prepared: each connection parses and plans it once.
      expect(statements.mock.calls[1][0]).toMatchObject({ name: expect.stringMatching(/^mcm_moment_/), text: expect.stringMatching(/ AND xmin = \$\d+::xid /) });
      statements.mockClear();
      const stored = (await moments.findById(moment.id))!;
      expect(outcome?.moment.updatedAt).toEqual(stored.updatedAt);
      expect(moment.updatedAt.getTime()).toBeLessThanOrEqual(stored.updatedAt.getTime());
      // The row, changed in place, is the row as stored: nothing needs reading back.
      expect({ ...outcome?.moment }).toEqual({ ...stored });
      expect(outcome?.version).toBe((await moments.findReading(moment.id))?.version);
      const history = await moments.history(moment.id);
      expect(history.map((row) => [row.eventType, row.status, row.momentStage, row.progress])).toEqual([
        ['CREATED', 'PENDING', 'analyze', 0],
        ['STAGE_SUCCEEDED', stored.status, stored.stage, stored.progress],
      ]);
    } finally {
      statements.mockRestore();
    }
  });

  it('decides an event on a row passed along in one statement, and again on the row as committed when the row has moved since', async () => {
    const moment = await create();
    const started = (await lifecycle.apply(moment.id, { type: 'STAGE_STARTED', stage: 'analyze' }, { forRun: { stage: 'analyze', run: 1, attempt: 1 } }))!;
    expect(started.accepted).toBe(true);
    const statements = vi.spyOn(Client.prototype, 'query');
    try {
      const outcome = (await lifecycle.apply(moment.id, analyzed, { known: started }))!;
      expect(outcome.applied).toBe(true);
      expect(statements).toHaveBeenCalledTimes(1);
      statements.mockClear();

      // The row moves (a cancel) after `outcome`: a late failure decided on `outcome` would move the moment to a retry.
      await lifecycle.apply(moment.id, { type: 'CANCEL' });
      statements.mockClear();
      const late = (await lifecycle.apply(moment.id, { type: 'STAGE_FAILED', stage: 'compose', error: { code: 'X', message: 'no', retryable: true } }, { known: outcome }))!;
      // Refused by the version check, then decided on the row read again and written at its version.
      const texts = statements.mock.calls.map(([query]) => (typeof query === 'string' ? query : (query as { text: string }).text));
      expect(texts).toEqual([expect.stringMatching(/^WITH written AS/), expect.stringMatching(/^SELECT "xmin"/), expect.stringMatching(/^WITH written AS/)]);
      expect(late.applied).toBe(false);
      expect(late.moment.status).toBe('CANCELED');
      expect((await moments.findById(moment.id))?.status).toBe('CANCELED');
      const history = await moments.history(moment.id);
      expect(history.map((row) => [row.eventType, row.applied])).toEqual([
        ['CREATED', true],
        ['STAGE_STARTED', true],
        ['STAGE_SUCCEEDED', true],
        ['CANCEL', true],
        ['STAGE_FAILED', false],
      ]);
    } finally {
      statements.mockRestore();
    }
  });

  it('does not skip a stage on a row passed along that says the moment no longer waits for it, when the row has moved since', async () => {
    const moment = await create();
    await lifecycle.apply(moment.id, analyzed);
    const failed = (await lifecycle.apply(moment.id, { type: 'STAGE_FAILED', stage: 'compose', error: { code: 'X', message: 'no', retryable: false } }))!;
    expect(failed.moment.status).toBe('FAILED');
    await lifecycle.apply(moment.id, { type: 'RETRY' });
    // `failed` awaits nothing; the row now awaits run 2 of compose.
    const rerun = { stage: 'compose' as const, run: 2, attempt: 1 };
    const started = await lifecycle.apply(moment.id, { type: 'STAGE_STARTED', stage: 'compose' }, { forRun: rerun, known: failed });
    expect(started?.accepted).toBe(true);
    expect((await moments.history(moment.id)).at(-1)).toMatchObject({ eventType: 'STAGE_STARTED', stage: 'compose' });
  });

  it('announces each committed change on the change feed with the id of its last history row', async () => {
    const listener = new Client({ connectionString: testEnv.config.DATABASE_URL });
    await listener.connect();
    const notices: string[] = [];
    listener.on('notification', (message) => notices.push(message.payload ?? ''));
    await listener.query(`LISTEN ${MOMENT_CHANGED_CHANNEL}`);
    try {
      const moment = await create();
      await lifecycle.apply(moment.id, analyzed);
      await lifecycle.delete(moment.id, 'client');
      const history = await moments.history(moment.id);
      await vi.waitFor(() => expect(notices).toHaveLength(3), { timeout: 10_000, interval: 20 });
      // The deletion writes two rows (CANCEL, DELETED) in one change: its notice names the last.
      expect(notices).toEqual([history[0], history[1], history[3]].map((row) => `${moment.id}:${row.id}`));
    } finally {
      await listener.end();
    }
  });

  it('rolls a change back when deciding it throws, and releases the row for the next one', async () => {
    const moment = await create();
    await expect(
      moments.change(moment.id, () => {
        throw new Error('decided nothing');
      }),
    ).rejects.toThrow('decided nothing');
    const outcome = await lifecycle.apply(moment.id, analyzed);
    expect(outcome?.applied).toBe(true);
    expect((await moments.history(moment.id)).map((row) => row.eventType)).toEqual(['CREATED', 'STAGE_SUCCEEDED']);
  });

  it('returns null for an unknown moment', async () => {
    expect(await lifecycle.apply(randomUUID(), analyzed)).toBeNull();
  });

  it('removes waiting work when a moment is canceled, and ignores its late result', async () => {
    const moment = await create();
    const jobId = stageJobId(moment.id, { stage: 'analyze', run: 1, attempt: 1 });
    expect(await queue.queue('analyze').getJob(jobId)).toBeTruthy();
    await lifecycle.apply(moment.id, { type: 'CANCEL' });
    expect(await queue.queue('analyze').getJob(jobId)).toBeFalsy();
    const late = await lifecycle.apply(moment.id, analyzed);
    expect(late?.applied).toBe(false);
    expect((await moments.findById(moment.id))?.status).toBe('CANCELED');
  });

  it('re-enqueues in-flight moments whose queue messages were lost', async () => {
    const moment = await create();
    await lifecycle.apply(moment.id, analyzed);
    const composeJob = stageJobId(moment.id, { stage: 'compose', run: 1, attempt: 1 });
    await queue.queue('compose').obliterate({ force: true });
    expect(await queue.queue('compose').getJob(composeJob)).toBeFalsy();

    expect(await lifecycle.reconcile(60_000)).toBe(0);
    const revived = await lifecycle.reconcile(0);
    expect(revived).toBeGreaterThanOrEqual(1);
    const revivedJob = await queue.queue('compose').getJob(composeJob);
    expect(revivedJob).toBeTruthy();
    expect(await revivedJob?.getState()).toBe('waiting');
    expect(revivedJob?.opts.delay ?? 0).toBe(0);
    // A live message is left alone.
    const before = await lifecycle.reconcile(0);
    expect(before).toBe(0);
  });

  it('retries a failed moment from the stage that failed', async () => {
    const moment = await create();
    await lifecycle.apply(moment.id, analyzed);
    await lifecycle.apply(moment.id, { type: 'STAGE_FAILED', stage: 'compose', error: { code: 'X', message: 'no', retryable: false } });
    expect((await moments.findById(moment.id))?.error).toEqual({ stage: 'compose', code: 'X', message: 'no', retryable: false });
    const retried = await lifecycle.apply(moment.id, { type: 'RETRY' });
    expect(retried?.moment.status).toBe('ANALYZING');
    expect(retried?.moment.error).toBeNull();
    const rerun = await queue.queue('compose').getJob(stageJobId(moment.id, { stage: 'compose', run: 2, attempt: 1 }));
    expect(rerun).toBeTruthy();
    expect(await rerun?.getState()).toBe('waiting');
    expect(rerun?.opts.delay ?? 0).toBe(0);
  });

  it('schedules a retryable failure as the next attempt, delayed by the backoff with jitter', async () => {
    const moment = await create();
    await lifecycle.apply(moment.id, analyzed);
    await lifecycle.apply(moment.id, { type: 'STAGE_FAILED', stage: 'compose', error: { code: 'MCP_UNAVAILABLE', message: 'down', retryable: true } });
    const next = await queue.queue('compose').getJob(stageJobId(moment.id, { stage: 'compose', run: 1, attempt: 2 }));
    expect(await next?.getState()).toBe('delayed');
    const base = backoffMs('compose', 1);
    expect(next?.opts.delay).toBeGreaterThanOrEqual(Math.round(base * 0.75));
    expect(next?.opts.delay).toBeLessThanOrEqual(Math.round(base * 1.25));
  });
});

describe('a worker facing a blueprint longer than MAX_RENDER_SECONDS', () => {
  let testEnv: TestEnv;
  let module: TestingModule;
  let lifecycle: MomentLifecycle;
  let moments: MomentsRepository;
  let queue: StageQueue;
  const workers: INestApplicationContext[] = [];
  // 14 bars of 4/4 at 96 bpm: 35 s, over this deployment's 20 s.
  const overLimit = fourSectionBlueprint({ id: 'bp-over-limit', style: 'anthem', tempo_bpm: 96, key: 'Am' });
  const validated: MomentEvent = { type: 'STAGE_SUCCEEDED', stage: 'validate', output: { ok: true, errors: [] }, durationMs: 1 };
  const rendered = (stage: 'render_vocals' | 'render_instrumental', key: string): MomentEvent => ({ type: 'STAGE_SUCCEEDED', stage, output: { key }, durationMs: 1 });

  beforeAll(async () => {
    testEnv = await createTestEnv({ MAX_RENDER_SECONDS: '20' });
    module = await Test.createTestingModule({ imports: [CoreModule.forRoot(testEnv.config)] }).compile();
    await module.init();
    lifecycle = module.get(MomentLifecycle);
    moments = module.get(MomentsRepository);
    queue = module.get(StageQueue);
  });

  afterEach(async () => {
    for (const worker of workers.splice(0)) await worker.close();
  });

  afterAll(async () => {
    await module?.close();
    await testEnv?.cleanup();
  });

  /** A worker process's app serving only `stages`, so each moment is met by the stage under test. */
  async function startWorker(stages: string): Promise<void> {
    const config = loadConfig({ ...testEnv.env, WORKER_STAGES: stages });
    workers.push(await NestFactory.createApplicationContext(WorkerModule.forRoot(config), { logger: false }));
  }

  /** Starts a moment with `blueprint`, then offers it the events earlier stages would have reported. */
  async function momentAt(blueprint: Blueprint, events: MomentEvent[]): Promise<string> {
    const moment = await lifecycle.create({ momentId: randomUUID(), outputKind: OutputKind.Preview, originalKey: 'moments/x/original.m4a', blueprint });
    for (const event of events) expect((await lifecycle.apply(moment.id, event))?.applied).toBe(true);
    return moment.id;
  }

  async function failedOnce(id: string, stages: string[]) {
    await vi.waitFor(async () => expect((await moments.findById(id))?.status).toBe('FAILED'), { timeout: 30_000, interval: 50 });
    const moment = (await moments.findById(id))!;
    expect(moment.error).toMatchObject({ code: 'BLUEPRINT_TOO_LONG', retryable: false });
    expect(stages).toContain(moment.error!.stage);
    // Not retried: no second attempt of any stage was ever enqueued.
    for (const stage of STAGES) expect(await queue.queue(stage).getJob(stageJobId(id, { stage, run: 1, attempt: 2 }))).toBeFalsy();
    const failures = (await moments.history(id)).filter((row) => row.eventType === 'STAGE_FAILED');
    expect(failures.filter((row) => row.applied)).toHaveLength(1);
    return moment;
  }

  it('fails the moment once, for good, at validation: the 10.6-hour blueprint is never rendered', async () => {
    const id = await momentAt(TEN_HOUR_BLUEPRINT, [analyzed]);
    await startWorker('validate');
    const moment = await failedOnce(id, ['validate']);
    expect(moment.error!.detail).toBe('The blueprint asks for 10.6 hours of audio; at most 20 seconds can be rendered.');
    expect(moment.snapshot.context.attempts).toEqual({ analyze: 1, validate: 1 });
    expect(await queue.queue('render_instrumental').getJob(stageJobId(id, { stage: 'render_instrumental', run: 1, attempt: 1 }))).toBeFalsy();
  });

  it('refuses it again in the render stages when it was validated under an earlier limit', async () => {
    const id = await momentAt(overLimit, [analyzed, validated]);
    await startWorker('render_vocals,render_instrumental');
    const moment = await failedOnce(id, ['render_vocals', 'render_instrumental']);
    expect(moment.assets).toEqual({ original: 'moments/x/original.m4a' });
  });

  it('refuses it again in the mix stage', async () => {
    const id = await momentAt(overLimit, [analyzed, validated, rendered('render_vocals', 'moments/x/stems/vocals.wav'), rendered('render_instrumental', 'moments/x/stems/instrumental.wav')]);
    await startWorker('mix');
    const moment = await failedOnce(id, ['mix']);
    expect(moment.assets.preview).toBeUndefined();
  });
});
