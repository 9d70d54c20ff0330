import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MomentRetention, RETENTION_SCHEDULER_ID, type WorkerConfig, type MomentsRepository, type StorageRepository } from '@mcm/core';
import { OutputKind } from '@mcm/pipeline';
import { asAdapter, fakeCore, FakeSchedulerQueue } from '../../../test/fakes';
import { webhookDelivery } from '../test/webhook-world';
import { Reconciler } from './reconciler.service';
import { RetentionProcessor } from './retention.processor';

const config = { RECONCILE_INTERVAL_MS: 60_000, SWEEP_INTERVAL_SECONDS: 3600, RETENTION_DAYS: 0, SWEEP_GRACE_SECONDS: 3600 } as WorkerConfig;

function world() {
  const core = fakeCore();
  const schedules = new FakeSchedulerQueue();
  const retention = new MomentRetention(asAdapter<MomentsRepository>(core.moments), core.lifecycle, asAdapter<StorageRepository>(core.storage), config);
  const reconciler = new Reconciler(core.lifecycle, new RetentionProcessor(retention, schedules.asQueue(), config), webhookDelivery(core), config);
  /** A moment whose row has not moved for longer than a reconcile interval. */
  const idleMoment = async () => {
    const moment = await core.lifecycle.create({ momentId: randomUUID(), outputKind: OutputKind.Preview, originalKey: 'moments/x/original.m4a' });
    core.moments.rows.get(moment.id)!.updatedAt = new Date(Date.now() - 2 * config.RECONCILE_INTERVAL_MS);
    return moment;
  };
  return { ...core, schedules, reconciler, idleMoment };
}

describe('Reconciler', () => {
  it('re-enqueues the awaited run of an idle moment whose message was lost, and leaves live messages alone', async () => {
    const { reconciler, queue, idleMoment } = world();
    const lost = await idleMoment();
    const live = await idleMoment();
    queue.jobs.delete(`${lost.id}.analyze.r1.a1`);
    expect(await reconciler.tick()).toBe(1);
    expect(queue.job(lost.id, { stage: 'analyze', run: 1, attempt: 1 })).toMatchObject({ state: 'waiting', delayMs: 0 });
    expect(queue.job(live.id, { stage: 'analyze', run: 1, attempt: 1 })?.state).toBe('waiting');
    expect(await reconciler.tick()).toBe(0);
  });

  it('revives a run whose job ended without reporting back', async () => {
    const { reconciler, queue, idleMoment } = world();
    const moment = await idleMoment();
    queue.job(moment.id, { stage: 'analyze', run: 1, attempt: 1 })!.state = 'failed';
    expect(await reconciler.tick()).toBe(1);
    expect(queue.job(moment.id, { stage: 'analyze', run: 1, attempt: 1 })?.state).toBe('waiting');
  });

  it('leaves moments that moved recently, and finished ones, to themselves', async () => {
    const { reconciler, queue, lifecycle, idleMoment } = world();
    const fresh = await lifecycle.create({ momentId: randomUUID(), outputKind: OutputKind.Preview, originalKey: 'moments/x/original.m4a' });
    queue.jobs.clear();
    const canceled = await idleMoment();
    await lifecycle.apply(canceled.id, { type: 'CANCEL' });
    expect(await reconciler.tick()).toBe(0);
    expect(queue.job(fresh.id, { stage: 'analyze', run: 1, attempt: 1 })).toBeUndefined();
  });

  it('registers the retention schedule again when Redis lost it, and still revives when it cannot', async () => {
    const { reconciler, schedules, queue, idleMoment } = world();
    await reconciler.tick();
    expect(schedules.schedulers.get(RETENTION_SCHEDULER_ID)?.every).toBe(config.SWEEP_INTERVAL_SECONDS * 1000);
    await reconciler.tick();
    expect(schedules.upserts).toBe(1);
    schedules.emptied();
    await reconciler.tick();
    expect(schedules.upserts).toBe(2);

    schedules.unreachable = true;
    await idleMoment();
    queue.jobs.clear();
    expect(await reconciler.tick()).toBe(1);
  });

  it('runs one pass at a time: a tick during a pass does nothing', async () => {
    const { reconciler, queue, idleMoment } = world();
    await idleMoment();
    queue.jobs.clear();
    const [first, second] = await Promise.all([reconciler.tick(), reconciler.tick()]);
    expect([first, second]).toEqual([1, 0]);
  });

  it('survives a failed pass and answers 0', async () => {
    const { reconciler, moments } = world();
    moments.findStale = async () => {
      throw new Error('connection terminated');
    };
    expect(await reconciler.tick()).toBe(0);
  });
});
