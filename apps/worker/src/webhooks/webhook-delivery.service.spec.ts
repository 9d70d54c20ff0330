import { randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { OutboundRefusedError } from '@mcm/core';
import { OutputKind } from '@mcm/pipeline';
import { fakeCore } from '../../../../test/fakes';
import { FakeReceiver, SECRETS, webhookDelivery } from '../../test/webhook-world';

function world(answer?: FakeReceiver['answer']) {
  const core = fakeCore();
  const receiver = new FakeReceiver();
  if (answer) receiver.answer = answer;
  const delivery = webhookDelivery(core, receiver);
  const create = async (events?: Array<'start' | 'progress'>) => {
    const moment = await core.lifecycle.create({
      momentId: randomUUID(),
      outputKind: OutputKind.Preview,
      originalKey: 'moments/x/original.m4a',
      title: 'Monday Morning Hero',
      webhookUrl: 'https://hooks.example.com/in',
      webhookEvents: events ? [...events, 'canceled'] : null,
    });
    return moment;
  };
  const outbox = (momentId: string) => core.moments.webhookOutbox.forMoment(momentId);
  return { ...core, receiver, delivery, create, outbox };
}

describe('WebhookDelivery', () => {
  it('POSTs the Standard Webhooks body signed with every secret, each verifiable by the reference library', async () => {
    const { create, lifecycle, delivery, receiver, outbox } = world();
    const moment = await create();
    await lifecycle.apply(moment.id, { type: 'CANCEL', reason: 'test' });
    const [row] = await outbox(moment.id);
    expect(await delivery.attempt(row.id)).toBeNull();

    const [sent] = receiver.requests;
    expect(sent.url).toBe('https://hooks.example.com/in');
    expect(sent.headers['content-type']).toBe('application/json');
    expect(sent.headers['webhook-id']).toBe(row.id);
    expect(sent.headers['webhook-signature'].split(' ')).toHaveLength(2);
    for (const secret of SECRETS) {
      const payload = new Webhook(secret).verify(sent.body, sent.headers) as { type: string; timestamp: string; data: Record<string, unknown> };
      expect(payload).toMatchObject({ type: 'moment.canceled', timestamp: row.point.at, data: { id: moment.id, status: 'CANCELED', title: 'Monday Morning Hero' } });
    }
    expect(() => new Webhook('whsec_c29tZSBvdGhlciBzZWNyZXQgb2YgMjQgYnl0ZXM=').verify(sent.body, sent.headers)).toThrow(/No matching signature/);
    const [settled] = await outbox(moment.id);
    expect(settled.state).toBe('delivered');
    expect(settled.attempts).toEqual([{ at: expect.any(String), status: 204, latency_ms: expect.any(Number) }]);
    // Settled: a second message for it (a redelivered job, the reconciler) sends nothing.
    expect(await delivery.attempt(row.id)).toBeNull();
    expect(receiver.requests).toHaveLength(1);
  });

  it('retries a 500 and a timeout on the schedule with the same webhook-id, then delivers', async () => {
    const timeout = Object.assign(new Error('aborted'), { name: 'TimeoutError' });
    const { create, lifecycle, delivery, receiver, outbox } = world((attempt) => (attempt === 1 ? 500 : attempt === 2 ? timeout : 200));
    const moment = await create();
    await lifecycle.apply(moment.id, { type: 'CANCEL' });
    const [row] = await outbox(moment.id);
    const first = await delivery.attempt(row.id);
    expect(first).toBeGreaterThanOrEqual(800);
    expect(first).toBeLessThanOrEqual(1_200);
    expect((await outbox(moment.id))[0].nextAttemptAt.getTime()).toBeGreaterThan(Date.now());
    const second = await delivery.attempt(row.id);
    expect(second).toBeGreaterThanOrEqual(48_000);
    expect(await delivery.attempt(row.id)).toBeNull();
    expect(new Set(receiver.requests.map((request) => request.headers['webhook-id']))).toEqual(new Set([row.id]));
    const [settled] = await outbox(moment.id);
    expect(settled.state).toBe('delivered');
    expect(settled.attempts.map((attempt) => [attempt.status, attempt.error ?? null])).toEqual([
      [500, null],
      [null, 'no answer within 10000 ms'],
      [200, null],
    ]);
  });

  it('gives up when the schedule is spent, and at once on a refused destination', async () => {
    const { create, lifecycle, delivery, receiver, outbox } = world(() => 503);
    const spent = await create();
    await lifecycle.apply(spent.id, { type: 'CANCEL' });
    const [row] = await outbox(spent.id);
    const delays = [await delivery.attempt(row.id), await delivery.attempt(row.id), await delivery.attempt(row.id)];
    expect(delays.map((delay) => delay !== null)).toEqual([true, true, false]);
    expect((await outbox(spent.id))[0]).toMatchObject({ state: 'failed' });

    receiver.answer = () => new OutboundRefusedError();
    const refused = await create();
    await lifecycle.apply(refused.id, { type: 'CANCEL' });
    const [refusedRow] = await outbox(refused.id);
    expect(await delivery.attempt(refusedRow.id)).toBeNull();
    expect((await outbox(refused.id))[0]).toMatchObject({ state: 'failed', attempts: [{ status: null, error: expect.stringMatching(/not a public internet address/) }] });
  });

  it('stops every delivery to a URL that answered 410, the pending ones and those of later changes', async () => {
    const { create, lifecycle, delivery, receiver, outbox } = world(() => 410);
    const moment = await create(['start', 'progress']);
    await lifecycle.apply(moment.id, { type: 'STAGE_STARTED', stage: 'analyze' });
    await lifecycle.apply(moment.id, { type: 'STAGE_SUCCEEDED', stage: 'analyze', output: { analysis: { duration_s: 12 } as never }, durationMs: 5 });
    const [started, progressed] = await outbox(moment.id);
    expect(await delivery.attempt(started.id)).toBeNull();
    expect((await outbox(moment.id)).map((row) => row.state)).toEqual(['gone', 'gone']);
    expect(await delivery.attempt(progressed.id)).toBeNull();
    await lifecycle.apply(moment.id, { type: 'CANCEL' });
    expect(await outbox(moment.id)).toHaveLength(2);
    expect(receiver.requests).toHaveLength(1);
  });

  it('re-enqueues due pending deliveries whose message is gone, and only those', async () => {
    const { create, lifecycle, delivery, webhooks, outbox } = world();
    const moment = await create();
    await lifecycle.apply(moment.id, { type: 'CANCEL' });
    const [row] = await outbox(moment.id);
    expect(await delivery.reconcile()).toBe(0);
    webhooks.jobs.clear();
    expect(await delivery.reconcile()).toBe(1);
    expect(webhooks.jobs.has(row.id)).toBe(true);
    await delivery.attempt(row.id);
    webhooks.jobs.clear();
    expect(await delivery.reconcile()).toBe(0);
  });
});
