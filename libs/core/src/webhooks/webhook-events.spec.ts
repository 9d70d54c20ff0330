import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MomentStatus, OutputKind, type MomentEvent } from '@mcm/pipeline';
import { fakeCore } from '../../../../test/fakes';
import type { WebhookEvent } from './webhook-events';
import { webhookEventOf } from './webhook-events';

const at = (status: MomentStatus, stage: string | null = null, progress = 0) => ({ status, stage: stage as never, progress });
const analyzed: MomentEvent = { type: 'STAGE_SUCCEEDED', stage: 'analyze', output: { analysis: { duration_s: 12, tempo_bpm: 96, key: 'Am' } as never }, durationMs: 42 };

describe('webhookEventOf', () => {
  it('names an end by its status, a first move out of PENDING (or out of an end) a start, any other move progress', () => {
    expect(webhookEventOf(at(MomentStatus.Mixing, 'mix', 0.9), at(MomentStatus.Completed, null, 1))).toBe('completed');
    expect(webhookEventOf(at(MomentStatus.Analyzing, 'compose', 0.2), at(MomentStatus.Failed, 'compose', 0.2))).toBe('failed');
    expect(webhookEventOf(at(MomentStatus.Pending, 'analyze'), at(MomentStatus.Canceled))).toBe('canceled');
    expect(webhookEventOf(at(MomentStatus.Pending, 'analyze'), at(MomentStatus.Analyzing, 'analyze'))).toBe('start');
    expect(webhookEventOf(at(MomentStatus.Failed, 'compose', 0.2), at(MomentStatus.Analyzing, 'compose', 0.2))).toBe('start');
    expect(webhookEventOf(at(MomentStatus.Analyzing, 'analyze', 0.1), at(MomentStatus.Analyzing, 'compose', 0.2))).toBe('progress');
    expect(webhookEventOf(at(MomentStatus.Analyzing, 'validate', 0.3), at(MomentStatus.Rendering, 'render_vocals', 0.4))).toBe('progress');
  });

  it('is silent when nothing a client sees moved, and for a retry back to PENDING', () => {
    expect(webhookEventOf(at(MomentStatus.Analyzing, 'compose', 0.2), at(MomentStatus.Analyzing, 'compose', 0.2))).toBeNull();
    expect(webhookEventOf(at(MomentStatus.Completed, null, 1), at(MomentStatus.Completed, null, 1))).toBeNull();
    expect(webhookEventOf(at(MomentStatus.Failed, 'analyze'), at(MomentStatus.Pending, 'analyze'))).toBeNull();
  });
});

describe('the webhook outbox, as changes write it', () => {
  function world(webhookEvents?: WebhookEvent[]) {
    const core = fakeCore();
    const create = (webhookUrl: string | null = 'https://hooks.example.com/in') =>
      core.lifecycle.create({ momentId: randomUUID(), outputKind: OutputKind.Preview, originalKey: 'moments/x/original.m4a', webhookUrl, webhookEvents });
    const outbox = (momentId: string) => core.moments.webhookOutbox.forMoment(momentId);
    return { ...core, create, outbox };
  }

  it('writes only how the moment ends by default, with a stable id from its history row, and hands the id to the queue', async () => {
    const { create, lifecycle, outbox, webhooks, moments } = world();
    const moment = await create();
    await lifecycle.apply(moment.id, { type: 'STAGE_STARTED', stage: 'analyze' });
    await lifecycle.apply(moment.id, analyzed);
    expect(await outbox(moment.id)).toEqual([]);
    await lifecycle.apply(moment.id, { type: 'CANCEL', reason: 'test' });
    const [delivery] = await outbox(moment.id);
    const cancelRow = (await moments.history(moment.id)).at(-1)!;
    expect(delivery).toMatchObject({ id: `msg_${moment.id}_${cancelRow.id}`, eventType: 'moment.canceled', url: 'https://hooks.example.com/in', point: { status: 'CANCELED' } });
    expect([...webhooks.jobs.keys()]).toEqual([delivery.id]);
    // A second CANCEL is ignored by the machine: nothing moved, nothing more to tell.
    await lifecycle.apply(moment.id, { type: 'CANCEL', reason: 'again' });
    expect(await outbox(moment.id)).toHaveLength(1);
  });

  it('writes start and progress when subscribed, and nothing for a moment without a webhook', async () => {
    const { create, lifecycle, outbox } = world(['start', 'progress']);
    const moment = await create();
    const silent = await create(null);
    for (const id of [moment.id, silent.id]) {
      await lifecycle.apply(id, { type: 'STAGE_STARTED', stage: 'analyze' });
      await lifecycle.apply(id, analyzed);
      await lifecycle.apply(id, { type: 'CANCEL' });
    }
    expect((await outbox(moment.id)).map((row) => [row.eventType, row.point.status, row.point.stage])).toEqual([
      ['moment.started', 'ANALYZING', 'analyze'],
      ['moment.progress', 'ANALYZING', 'compose'],
    ]);
    expect(await outbox(silent.id)).toEqual([]);
  });

  it('tells a deletion of a moment in progress as its cancellation', async () => {
    const { create, lifecycle, outbox } = world();
    const moment = await create();
    await lifecycle.delete(moment.id, 'client');
    expect((await outbox(moment.id)).map((row) => row.eventType)).toEqual(['moment.canceled']);
  });
});
