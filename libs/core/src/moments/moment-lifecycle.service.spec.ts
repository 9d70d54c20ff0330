import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { backoffMs, MACHINE_VERSION, OutputKind, type Analysis, type MomentEvent } from '@mcm/pipeline';
import { fakeCore } from '../../../../test/fakes';
import { metricValue, parseMetrics } from '../../../../test/support/prometheus';

const analysis = { duration_s: 12, tempo_bpm: 96, key: 'Am' } as Analysis;
const analyzed: MomentEvent = { type: 'STAGE_SUCCEEDED', stage: 'analyze', output: { analysis }, durationMs: 42 };
const composeFailed = (retryable: boolean): MomentEvent => ({ type: 'STAGE_FAILED', stage: 'compose', error: { code: 'BOOM', message: 'it broke', retryable } });

function world() {
  const core = fakeCore();
  const create = (extra: { owner?: string } = {}) => core.lifecycle.create({ momentId: randomUUID(), outputKind: OutputKind.Preview, originalKey: 'moments/x/original.m4a', ...extra });
  return { ...core, create };
}

describe('MomentLifecycle', () => {
  it('creates a PENDING moment with its history and a waiting analysis job, without reading it back', async () => {
    const { create, moments, queue } = world();
    const moment = await create();
    expect(moment).toMatchObject({ status: 'PENDING', stage: 'analyze', machineVersion: MACHINE_VERSION, deletedAt: null, assetsExpiredAt: null });
    expect(moment.updatedAt).toBeInstanceOf(Date);
    expect((await moments.history(moment.id)).map((row) => [row.eventType, row.toState])).toEqual([['CREATED', 'active.pending']]);
    expect(queue.job(moment.id, { stage: 'analyze', run: 1, attempt: 1 })).toMatchObject({ state: 'waiting', delayMs: 0 });
  });

  it('measures a moment from creation to its terminal status once, when the machine takes it there', async () => {
    const { create, lifecycle, metrics } = world();
    const count = async (status: string) => metricValue(parseMetrics((await metrics.exposition()).body), 'mcm_moment_duration_seconds_count', { status });
    const failed = await create();
    await lifecycle.apply(failed.id, analyzed);
    expect(await count('FAILED')).toBeUndefined();
    await lifecycle.apply(failed.id, composeFailed(false));
    await lifecycle.apply(failed.id, { type: 'CANCEL' });
    expect(await count('FAILED')).toBe(1);
    expect(await count('CANCELED')).toBeUndefined();

    const canceled = await create();
    await Promise.all([lifecycle.apply(canceled.id, { type: 'CANCEL' }), lifecycle.apply(canceled.id, { type: 'CANCEL' })]);
    await lifecycle.delete(canceled.id, 'client');
    expect(await count('CANCELED')).toBe(1);
    // Deleting a moment in progress cancels it: that ends it too.
    await lifecycle.delete((await create()).id, 'client');
    expect(await count('CANCELED')).toBe(2);
  });

  it('applies concurrent duplicate results once and records every offer', async () => {
    const { create, lifecycle, moments, queue } = world();
    const moment = await create();
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => lifecycle.apply(moment.id, analyzed)));
    expect(outcomes.filter((outcome) => outcome?.applied)).toHaveLength(1);
    const results = (await moments.history(moment.id)).filter((row) => row.eventType === 'STAGE_SUCCEEDED');
    expect(results.map((row) => row.applied).sort()).toEqual([false, false, false, false, false, false, false, true]);
    expect(await moments.findById(moment.id)).toMatchObject({ status: 'ANALYZING', stage: 'compose', timingsMs: { analyze: 42 } });
    expect(queue.job(moment.id, { stage: 'compose', run: 1, attempt: 1 })?.state).toBe('waiting');
  });

  it('records a stage start as taken without moving the moment', async () => {
    const { create, lifecycle, moments } = world();
    const moment = await create();
    await lifecycle.apply(moment.id, analyzed);
    const start = await lifecycle.apply(moment.id, { type: 'STAGE_STARTED', stage: 'compose' });
    expect(start).toMatchObject({ applied: false, accepted: true });
    const stale = await lifecycle.apply(moment.id, { type: 'STAGE_STARTED', stage: 'analyze' });
    expect(stale).toMatchObject({ applied: false, accepted: false });
    const starts = (await moments.history(moment.id)).filter((row) => row.eventType === 'STAGE_STARTED');
    expect(starts.map((row) => [row.stage, row.applied])).toEqual([
      ['compose', true],
      ['analyze', false],
    ]);
  });

  it('takes a stage start for a run only while the moment waits for exactly that run, and writes nothing otherwise', async () => {
    const { create, lifecycle, moments } = world();
    const moment = await create();
    const stale = await lifecycle.apply(moment.id, { type: 'STAGE_STARTED', stage: 'analyze' }, { forRun: { stage: 'analyze', run: 1, attempt: 2 } });
    expect(stale).toMatchObject({ applied: false, accepted: false });
    expect((await moments.history(moment.id)).map((row) => row.eventType)).toEqual(['CREATED']);
    const current = await lifecycle.apply(moment.id, { type: 'STAGE_STARTED', stage: 'analyze' }, { forRun: { stage: 'analyze', run: 1, attempt: 1 } });
    expect(current).toMatchObject({ applied: true, accepted: true, moment: { id: moment.id, status: 'ANALYZING' } });
    await lifecycle.delete(moment.id, 'client');
    const deleted = await lifecycle.apply(moment.id, { type: 'STAGE_STARTED', stage: 'analyze' }, { forRun: { stage: 'analyze', run: 1, attempt: 1 } });
    expect(deleted).toMatchObject({ accepted: false });
    expect((await moments.history(moment.id)).map((row) => row.eventType)).toEqual(['CREATED', 'STAGE_STARTED', 'CANCEL', 'DELETED']);
  });

  it('schedules a retryable failure as the next attempt, delayed by the backoff', async () => {
    const { create, lifecycle, queue } = world();
    const moment = await create();
    await lifecycle.apply(moment.id, analyzed);
    await lifecycle.apply(moment.id, composeFailed(true));
    expect(queue.job(moment.id, { stage: 'compose', run: 1, attempt: 2 })).toMatchObject({ state: 'delayed', delayMs: backoffMs('compose', 1) });
  });

  it('fails for good on an error that cannot heal, and a retry starts the next run of that stage', async () => {
    const { create, lifecycle, queue } = world();
    const moment = await create();
    await lifecycle.apply(moment.id, analyzed);
    const failed = await lifecycle.apply(moment.id, composeFailed(false));
    expect(failed?.moment).toMatchObject({ status: 'FAILED', error: { stage: 'compose', code: 'BOOM' } });
    expect(queue.job(moment.id, { stage: 'compose', run: 1, attempt: 2 })).toBeUndefined();
    const retried = await lifecycle.apply(moment.id, { type: 'RETRY' });
    expect(retried?.moment).toMatchObject({ status: 'ANALYZING', error: null });
    expect(queue.job(moment.id, { stage: 'compose', run: 2, attempt: 1 })).toMatchObject({ state: 'waiting', delayMs: 0 });
  });

  it('answers null for an unknown moment', async () => {
    const { lifecycle } = world();
    expect(await lifecycle.apply(randomUUID(), analyzed)).toBeNull();
    expect(await lifecycle.delete(randomUUID(), 'client')).toBeNull();
    expect(await lifecycle.expireRecording(randomUUID())).toBe(false);
  });

  it('deletes a moment in progress: cancels it, drops its waiting job, leaves a tombstone that takes no event', async () => {
    const { create, lifecycle, moments, queue } = world();
    const moment = await create();
    const deleted = await lifecycle.delete(moment.id, 'client');
    expect(deleted?.deleted).toBe(true);
    expect(deleted?.moment).toMatchObject({ status: 'CANCELED', assets: {}, title: null, analysis: null });
    expect(deleted?.moment.deletedAt).toBeInstanceOf(Date);
    expect(deleted?.moment.snapshot.context.assets).toEqual({});
    expect(queue.job(moment.id, { stage: 'analyze', run: 1, attempt: 1 })).toBeUndefined();
    expect((await moments.history(moment.id)).map((row) => [row.eventType, row.toState, row.detail])).toEqual([
      ['CREATED', 'active.pending', null],
      ['CANCEL', 'canceled', 'deleted by the client'],
      ['DELETED', 'canceled', 'deleted by the client'],
    ]);
    const late = await lifecycle.apply(moment.id, { type: 'RETRY' });
    expect(late?.applied).toBe(false);
    expect((await moments.history(moment.id)).at(-1)).toMatchObject({ eventType: 'RETRY', applied: false, detail: 'the moment was deleted' });
    expect((await lifecycle.delete(moment.id, 'operator'))?.deleted).toBe(false);
  });

  it('expires a finished moment’s recording once, and refuses to resume it afterwards', async () => {
    const { create, lifecycle, moments } = world();
    const moment = await create();
    await lifecycle.apply(moment.id, { type: 'CANCEL' });
    expect(await lifecycle.expireRecording(moment.id)).toBe(true);
    expect(await lifecycle.expireRecording(moment.id)).toBe(false);
    const stored = await moments.findById(moment.id);
    expect(stored?.assets).toEqual({});
    expect(stored?.snapshot.context.assets).toEqual({});
    const retry = await lifecycle.apply(moment.id, { type: 'RETRY' });
    expect(retry?.applied).toBe(false);
    expect((await moments.history(moment.id)).at(-1)).toMatchObject({ eventType: 'RETRY', detail: 'the recording expired' });
  });

  it('does not expire a moment in progress', async () => {
    const { create, lifecycle } = world();
    expect(await lifecycle.expireRecording((await create()).id)).toBe(false);
  });

  it('leaves a lost enqueue to the reconciler, which revives only runs whose message is gone', async () => {
    const { create, lifecycle, moments, queue } = world();
    queue.unreachable = true;
    const moment = await create();
    expect(moment.status).toBe('PENDING');
    queue.unreachable = false;
    expect(queue.jobs.size).toBe(0);
    expect(await lifecycle.reconcile(60_000)).toBe(0);
    moments.rows.get(moment.id)!.updatedAt = new Date(Date.now() - 120_000);
    expect(await lifecycle.reconcile(60_000)).toBe(1);
    expect(queue.job(moment.id, { stage: 'analyze', run: 1, attempt: 1 })).toMatchObject({ state: 'waiting', delayMs: 0 });
    expect(await lifecycle.reconcile(60_000)).toBe(0);
  });

  it('refuses a row saved by a newer machine rather than misreading it', async () => {
    const { create, lifecycle, moments } = world();
    const moment = await create();
    moments.seed(Object.assign(moment, { machineVersion: MACHINE_VERSION + 1 }));
    await expect(lifecycle.apply(moment.id, analyzed)).rejects.toThrow('newer than this one');
  });
});
