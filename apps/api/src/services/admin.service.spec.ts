import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OutputKind, type Stage } from '@mcm/pipeline';
import { MomentViewBuilder, OutboundGuard, type ApiConfig, type MomentChangeFeed, type MomentsRepository, type StorageRepository, type WebhookDeliveriesRepository } from '@mcm/core';
import { asAdapter, fakeCore, FakeChangeFeed, FakeUploads } from '../../../../test/fakes';
import { AdminService } from './admin.service';
import { MomentViewService } from './moment-view.service';
import { MomentWaitService } from './moment-wait.service';
import { MomentsService } from './moments.service';
import type { UploadService } from './upload.service';

const config = { MAX_RENDER_SECONDS: 600 } as ApiConfig;
const analysis = { duration_s: 12, tempo_bpm: 96, key: 'Am' } as never;

function world() {
  const core = fakeCore();
  const moments = asAdapter<MomentsRepository>(core.moments);
  const storage = asAdapter<StorageRepository>(core.storage);
  const view = new MomentViewService(new MomentViewBuilder(storage), config);
  const waiter = new MomentWaitService(moments, new FakeChangeFeed() as unknown as MomentChangeFeed);
  const momentsService = new MomentsService(moments, core.lifecycle, storage, new FakeUploads() as unknown as UploadService, view, config, new OutboundGuard({ allowPrivate: false }), waiter);
  const admin = new AdminService(moments, core.lifecycle, momentsService, view, asAdapter<WebhookDeliveriesRepository>(core.moments.webhookOutbox));
  let clock = Date.parse('2026-01-01T00:00:00Z');
  /** A moment that failed in `stage` with `code`, created a minute after the previous one. */
  const failedMoment = async (stage: Stage = 'analyze', code = 'BOOM') => {
    const moment = await core.lifecycle.create({ momentId: randomUUID(), outputKind: OutputKind.Preview, originalKey: 'moments/x/original.m4a' });
    core.moments.rows.get(moment.id)!.createdAt = new Date((clock += 60_000));
    if (stage !== 'analyze') await core.lifecycle.apply(moment.id, { type: 'STAGE_SUCCEEDED', stage: 'analyze', output: { analysis }, durationMs: 1 });
    await core.lifecycle.apply(moment.id, { type: 'STAGE_FAILED', stage, error: { code, message: 'it broke', retryable: false } });
    return core.moments.rows.get(moment.id)!;
  };
  return { ...core, core, admin, failedMoment };
}

const problem = (status: number, code: string) => expect.objectContaining({ status, code });

describe('AdminService', () => {
  it('retries only the failed jobs the filter names, newest first, up to the limit', async () => {
    const { admin, failedMoment, queue } = world();
    const oldCompose = await failedMoment('compose', 'MCP_UNAVAILABLE');
    const composeBoom = await failedMoment('compose', 'BOOM');
    const newCompose = await failedMoment('compose', 'MCP_UNAVAILABLE');
    const analyzeBoom = await failedMoment('analyze', 'BOOM');

    expect(await admin.retryFailed({ stage: 'compose', code: 'MCP_UNAVAILABLE', created_after: new Date(oldCompose.createdAt.getTime() + 1) })).toEqual({ retried: [newCompose.id], count: 1 });
    expect(queue.job(newCompose.id, { stage: 'compose', run: 2, attempt: 1 })?.state).toBe('waiting');
    expect(await admin.retryFailed({ stage: 'compose', limit: 1 })).toEqual({ retried: [composeBoom.id], count: 1 });
    expect(await admin.retryFailed({ code: 'BOOM' })).toEqual({ retried: [analyzeBoom.id], count: 1 });
    expect(await admin.retryFailed({})).toEqual({ retried: [oldCompose.id], count: 1 });
    expect(await admin.retryFailed({})).toEqual({ retried: [], count: 0 });
  });

  it('leaves deleted and expired jobs out of a bulk retry', async () => {
    const { admin, failedMoment, lifecycle } = world();
    const deleted = await failedMoment();
    const expired = await failedMoment();
    await lifecycle.delete(deleted.id, 'operator');
    await lifecycle.expireRecording(expired.id);
    expect(await admin.retryFailed({})).toEqual({ retried: [], count: 0 });
  });

  it('resumes one FAILED job, and refuses jobs in progress, deleted or expired with their own codes', async () => {
    const { admin, failedMoment, lifecycle } = world();
    const failed = await failedMoment('compose');
    await expect(admin.retry(failed.id)).resolves.toMatchObject({ status: 'ANALYZING' });
    await expect(admin.retry(failed.id)).rejects.toEqual(problem(409, 'MOMENT_NOT_RETRYABLE'));
    const expired = await failedMoment();
    await lifecycle.expireRecording(expired.id);
    await expect(admin.retry(expired.id)).rejects.toEqual(problem(409, 'MOMENT_EXPIRED'));
    const deleted = await failedMoment();
    await admin.delete(deleted.id);
    await expect(admin.retry(deleted.id)).rejects.toEqual(problem(410, 'MOMENT_DELETED'));
    await expect(admin.retry(randomUUID())).rejects.toEqual(problem(404, 'MOMENT_NOT_FOUND'));
  });

  it('pages through jobs with a cursor, and shows a job with its history', async () => {
    const { admin, failedMoment } = world();
    const ids = [(await failedMoment()).id, (await failedMoment()).id, (await failedMoment()).id].reverse();
    const first = await admin.list({ limit: 2 });
    expect(first.items.map((item) => item.id)).toEqual(ids.slice(0, 2));
    const second = await admin.list({ limit: 2, cursor: first.next_cursor } as never);
    expect(second).toMatchObject({ items: [{ id: ids[2] }], next_cursor: null });
    const job = await admin.get(ids[0]);
    expect(job.history.map((row) => row.event_type)).toEqual(['CREATED', 'STAGE_FAILED']);
    expect(job.webhook_deliveries).toEqual([]);
  });

  it('shows each webhook delivery of a job with its attempts', async () => {
    const { admin, core } = world();
    const moment = await core.lifecycle.create({ momentId: randomUUID(), outputKind: OutputKind.Preview, originalKey: 'moments/x/original.m4a', webhookUrl: 'https://hooks.example.com/in' });
    await core.lifecycle.apply(moment.id, { type: 'CANCEL' });
    const [delivery] = await core.moments.webhookOutbox.forMoment(moment.id);
    await core.moments.webhookOutbox.recordAttempt(delivery.id, { at: '2026-01-01T00:00:00.000Z', status: 500, latency_ms: 12 }, 'pending', new Date());
    expect((await admin.get(moment.id)).webhook_deliveries).toEqual([
      { id: delivery.id, event: 'moment.canceled', state: 'pending', attempts: [{ at: '2026-01-01T00:00:00.000Z', status: 500, latency_ms: 12 }] },
    ]);
  });
});
