import { randomUUID } from 'node:crypto';
import { Test, type TestingModule } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreModule, MomentLifecycle, MomentsRepository, StageQueue } from '@mcm/core';
import { OutputKind, stageJobId, type MomentEvent } from '@mcm/pipeline';
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
    expect(await queue.queue('compose').getJob(stageJobId(moment.id, { stage: 'compose', run: 1, attempt: 1 }))).toBeTruthy();
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
    expect(await queue.queue('compose').getJob(composeJob)).toBeTruthy();
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
    expect(await queue.queue('compose').getJob(stageJobId(moment.id, { stage: 'compose', run: 2, attempt: 1 }))).toBeTruthy();
  });
});
