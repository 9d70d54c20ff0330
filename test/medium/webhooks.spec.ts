import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { getQueueToken } from '@nestjs/bullmq';
import { Test, type TestingModule } from '@nestjs/testing';
import type { Queue } from 'bullmq';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreModule, MomentLifecycle, WEBHOOK_QUEUE, WebhookQueue, WebhookSigner, loadConfig } from '@mcm/core';
import { WebhookDelivery } from '../../apps/worker/src/webhooks/webhook-delivery.service';
import { WebhookProcessor } from '../../apps/worker/src/webhooks/webhook.processor';
import { startApi, startApiWorld, type ApiWorld, type InProcessApi } from '../support/in-process-api';

const M4A = readFileSync(join(__dirname, '../fixtures/hum-phone.m4a'));
const OLD_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const NEW_SECRET = 'whsec_dGhlIG5leHQgc2VjcmV0LCBhZnRlciByb3RhdGlvbg==';
const ADMIN_TOKEN = 'webhooks-admin-token-0123456789';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A local receiver: every POST is kept, and answered with the status its path's script gives next (200 when spent). */
function receiver() {
  const received: Received[] = [];
  const scripts = new Map<string, number[]>();
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '/';
      received.push({ path, headers: request.headers, body: Buffer.concat(chunks).toString() });
      response.statusCode = scripts.get(path)?.shift() ?? 200;
      response.end();
    });
  });
  return { server, received, scripts, on: (path: string) => received.filter((request) => request.path === path) };
}

/**
 * Webhooks against Postgres, Redis and a local receiver: moments created through the api, changed by
 * the lifecycle as a worker changes them, delivered by the worker's processor through BullMQ.
 */
describe('webhooks', () => {
  let world: ApiWorld;
  let guarded: InProcessApi;
  let unsigned: InProcessApi;
  let worker: TestingModule;
  let lifecycle: MomentLifecycle;
  const hooks = receiver();
  let hookBase: string;

  beforeAll(async () => {
    await new Promise<void>((resolve) => hooks.server.listen(0, '127.0.0.1', resolve));
    hookBase = `http://127.0.0.1:${(hooks.server.address() as AddressInfo).port}`;
    world = await startApiWorld({
      ADMIN_TOKEN,
      OUTBOUND_ALLOW_PRIVATE: 'true',
      WEBHOOK_SECRET: `${OLD_SECRET},${NEW_SECRET}`,
      WEBHOOK_RETRY_SCHEDULE_MS: '0,200,200,200',
      RECONCILE_INTERVAL_MS: '1000',
    });
    [guarded, unsigned] = await Promise.all([startApi({ ...world.testEnv.env, WEBHOOK_SECRET: OLD_SECRET, OUTBOUND_ALLOW_PRIVATE: 'false' }), startApi({ ...world.testEnv.env, WEBHOOK_SECRET: '' })]);
    const config = loadConfig(world.testEnv.env);
    worker = await Test.createTestingModule({
      imports: [CoreModule.forRoot(config)],
      providers: [{ provide: WebhookSigner, useFactory: () => new WebhookSigner(config.WEBHOOK_SECRET ?? []) }, WebhookDelivery, WebhookProcessor],
    }).compile();
    await worker.init();
    lifecycle = world.app.get(MomentLifecycle);
  });

  afterAll(async () => {
    await worker?.close();
    await Promise.all([guarded?.app.close(), unsigned?.app.close()]);
    await world?.close();
    await new Promise((resolve) => hooks.server.close(resolve));
  });

  const create = (base: string, fields: Record<string, string>, headers: Record<string, string> = {}) => {
    const body = new FormData();
    body.append('file', new Blob([new Uint8Array(M4A)]), 'hum.m4a');
    for (const [name, value] of Object.entries(fields)) body.append(name, value);
    return fetch(`${base}/v1/moments`, { method: 'POST', body, headers });
  };
  const created = async (fields: Record<string, string>) => {
    const response = await create(world.base, fields);
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  };
  const adminJob = async (id: string) =>
    (await (await fetch(`${world.base}/v1/admin/jobs/${id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as {
      webhook_deliveries: Array<{ id: string; event: string; state: string; attempts: Array<{ at: string; status: number | null; latency_ms: number }> }>;
    };
  const until = async <T>(read: () => Promise<T> | T, done: (value: T) => boolean, ms = 15_000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const value = await read();
      if (done(value) || Date.now() > end) return value;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  it('delivers each subscribed event signed with both secrets, each verifiable by the reference library', async () => {
    const id = await created({ webhook_url: `${hookBase}/signed`, webhook_events: 'start,canceled', title: 'Morning run' });
    await lifecycle.apply(id, { type: 'STAGE_STARTED', stage: 'analyze' });
    await lifecycle.apply(id, { type: 'CANCEL', reason: 'test' });
    const requests = await until(
      () => hooks.on('/signed'),
      (list) => list.length >= 2,
    );
    expect(requests).toHaveLength(2);
    const payloads = requests.map((request) => {
      const headers = request.headers as Record<string, string>;
      expect(headers['content-type']).toBe('application/json');
      expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
      const [old, rotated] = [OLD_SECRET, NEW_SECRET].map((secret) => new Webhook(secret).verify(request.body, headers));
      expect(rotated).toEqual(old);
      return { id: headers['webhook-id'], payload: old as { type: string; timestamp: string; data: { id: string; status: string; title: string; original_audio_url: string } } };
    });
    expect(payloads.map(({ payload }) => [payload.type, payload.data.status])).toEqual([
      ['moment.started', 'ANALYZING'],
      ['moment.canceled', 'CANCELED'],
    ]);
    expect(payloads[1].payload.data).toMatchObject({ id, title: 'Morning run', original_audio_url: expect.stringContaining('X-Amz-Signature') });
    expect(new Set(payloads.map((entry) => entry.id)).size).toBe(2);
    expect(() => new Webhook('whsec_c29tZSBvdGhlciBzZWNyZXQgb2YgMjQgYnl0ZXM=').verify(requests[0].body, requests[0].headers as Record<string, string>)).toThrow();
  });

  it('retries after a 500 with the same webhook-id, and shows every attempt to an operator', async () => {
    hooks.scripts.set('/flaky', [500, 500]);
    const id = await created({ webhook_url: `${hookBase}/flaky` });
    await lifecycle.apply(id, { type: 'CANCEL' });
    const requests = await until(
      () => hooks.on('/flaky'),
      (list) => list.length >= 3,
    );
    expect(requests).toHaveLength(3);
    expect(new Set(requests.map((request) => request.headers['webhook-id'])).size).toBe(1);
    for (const request of requests) expect(new Webhook(NEW_SECRET).verify(request.body, request.headers as Record<string, string>)).toMatchObject({ type: 'moment.canceled' });
    const job = await until(
      () => adminJob(id),
      (body) => body.webhook_deliveries[0]?.state === 'delivered',
    );
    expect(job.webhook_deliveries).toEqual([
      {
        id: requests[0].headers['webhook-id'],
        event: 'moment.canceled',
        state: 'delivered',
        attempts: [500, 500, 200].map((status) => ({ at: expect.any(String), status, latency_ms: expect.any(Number) })),
      },
    ]);
  });

  it('stops delivering to a URL that answered 410', async () => {
    hooks.scripts.set('/gone', [410]);
    const id = await created({ webhook_url: `${hookBase}/gone`, webhook_events: 'start,progress,canceled' });
    await lifecycle.apply(id, { type: 'STAGE_STARTED', stage: 'analyze' });
    await until(
      () => adminJob(id),
      (body) => body.webhook_deliveries[0]?.state === 'gone',
    );
    await lifecycle.apply(id, { type: 'CANCEL' });
    // The cancellation would have been delivered by now, as the others were.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(hooks.on('/gone')).toHaveLength(1);
    expect((await adminJob(id)).webhook_deliveries.map((delivery) => [delivery.event, delivery.state, delivery.attempts.length])).toEqual([['moment.started', 'gone', 1]]);
  });

  it('delivers a message Redis lost once the reconciler finds it pending', async () => {
    const id = await created({ webhook_url: `${hookBase}/lost` });
    const queue = world.app.get(WebhookQueue);
    const bull = worker.get<Queue>(getQueueToken(WEBHOOK_QUEUE));
    // Redis loses the message before any worker took it.
    await bull.pause();
    await lifecycle.apply(id, { type: 'CANCEL' });
    const [{ id: deliveryId }] = (await adminJob(id)).webhook_deliveries;
    expect(await bull.remove(deliveryId)).toBe(1);
    await bull.resume();
    expect(await queue.isLive(deliveryId)).toBe(false);
    expect(await worker.get(WebhookDelivery).reconcile()).toBe(1);
    const requests = await until(
      () => hooks.on('/lost'),
      (list) => list.length >= 1,
    );
    expect(requests.map((request) => request.headers['webhook-id'])).toEqual([deliveryId]);
  });

  it('refuses a webhook to a private or loopback address, off https, or without a secret to sign with', async () => {
    const refusals: Array<[string, Record<string, string>, string]> = [
      [guarded.base, { webhook_url: `https://127.0.0.1:${new URL(hookBase).port}/x` }, 'WEBHOOK_URL_REFUSED'],
      [guarded.base, { webhook_url: 'https://169.254.169.254/latest/meta-data' }, 'WEBHOOK_URL_REFUSED'],
      [guarded.base, { webhook_url: 'https://localhost/x' }, 'WEBHOOK_URL_REFUSED'],
      [guarded.base, { webhook_url: `${hookBase}/x` }, 'WEBHOOK_URL_INVALID'],
      [unsigned.base, { webhook_url: `${hookBase}/x` }, 'WEBHOOKS_NOT_CONFIGURED'],
      [world.base, { webhook_url: `${hookBase}/x`, webhook_events: 'completed,finished' }, 'VALIDATION_FAILED'],
    ];
    for (const [base, fields, code] of refusals) {
      const response = await create(base, fields);
      expect({ status: response.status, code: ((await response.json()) as { code: string }).code }, JSON.stringify(fields)).toEqual({ status: code === 'VALIDATION_FAILED' ? 400 : 422, code });
    }
  });

  describe('Prefer: wait', () => {
    it('answers 201 with the moment when it ends within the wait', async () => {
      const started = Date.now();
      const answer = create(world.base, {}, { prefer: 'wait=20' });
      // A worker ends it meanwhile: the api hears the commit through Postgres.
      const id = await until(async () => (await world.db.query<{ id: string }>('SELECT id FROM moments WHERE created_at > $1', [new Date(started)])).rows[0]?.id, Boolean);
      await lifecycle.apply(id, { type: 'CANCEL' });
      const response = await answer;
      expect(response.status).toBe(201);
      expect(response.headers.get('preference-applied')).toBe('wait=20');
      expect(response.headers.get('vary')).toMatch(/Prefer/);
      expect(await response.json()).toMatchObject({ id, status: 'CANCELED' });
    });

    it('answers 202 as usual when the wait runs out, and ignores a preference it cannot read', async () => {
      const waited = await create(world.base, {}, { prefer: 'wait=1' });
      expect(waited.status).toBe(202);
      expect(waited.headers.get('preference-applied')).toBe('wait=1');
      expect(await waited.json()).toMatchObject({ status: 'PENDING' });
      const ignored = await create(world.base, {}, { prefer: 'wait=soon' });
      expect(ignored.status).toBe(202);
      expect(ignored.headers.get('preference-applied')).toBeNull();
    });
  });
});
