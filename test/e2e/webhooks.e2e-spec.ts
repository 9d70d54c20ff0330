import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../../scripts/stack';
import { createTestEnv, type TestEnv } from '../support/test-env';

const HUM = readFileSync(resolve(__dirname, '../fixtures/hum-phone.m4a'));
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ADMIN_TOKEN = 'e2e-webhooks-admin-token-0123';

interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * Webhooks and `Prefer: wait` on the stack as separate processes: the worker process delivers to a
 * receiver on this machine (OUTBOUND_ALLOW_PRIVATE=true), the api holds a create until the worker ends the moment.
 */
describe('webhooks and Prefer: wait, end to end', () => {
  let testEnv: TestEnv;
  let stack: Stack;
  let receiver: Server;
  let hooks: string;
  const received: Received[] = [];
  const scripts = new Map<string, number[]>([
    ['/flaky', [500]],
    ['/gone', [410]],
  ]);
  const logs: string[] = [];

  beforeAll(async () => {
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({ path: request.url ?? '/', headers: request.headers as Record<string, string>, body: Buffer.concat(chunks).toString() });
        response.statusCode = scripts.get(request.url ?? '/')?.shift() ?? 204;
        response.end();
      });
    });
    await new Promise<void>((done) => receiver.listen(0, '127.0.0.1', done));
    hooks = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    testEnv = await createTestEnv({ ADMIN_TOKEN, OUTBOUND_ALLOW_PRIVATE: 'true', WEBHOOK_SECRET: SECRET, WEBHOOK_RETRY_SCHEDULE_MS: '0,500,1000,2000' });
    stack = await startStack({ env: testEnv.env, workers: 1, log: (app, line) => logs.push(`[${app}] ${line}`) });
  });

  afterAll(async () => {
    await stack?.stop();
    await testEnv?.cleanup();
    await new Promise((done) => receiver?.close(done));
  });

  const create = (fields: Record<string, string>, headers: Record<string, string> = {}) => {
    const body = new FormData();
    body.append('file', new Blob([new Uint8Array(HUM)]), 'hum.m4a');
    for (const [name, value] of Object.entries(fields)) body.append(name, value);
    return fetch(`${stack.apiUrl}/v1/moments`, { method: 'POST', body, headers });
  };
  const on = (path: string) => received.filter((request) => request.path === path);
  const adminJob = async (id: string) =>
    (await (await fetch(`${stack.apiUrl}/v1/admin/jobs/${id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as {
      webhook_deliveries: Array<{ id: string; event: string; state: string; attempts: Array<{ status: number | null }> }>;
    };

  it('answers a create with Prefer: wait=60 with 201 and the COMPLETED moment, and delivers moment.completed, signed, after a 500', async () => {
    const background = await create({ webhook_url: `${hooks}/flaky`, style: 'lofi' });
    expect(background.status).toBe(202);
    const { id } = (await background.json()) as { id: string };

    const waited = await create({ webhook_url: `${hooks}/gone`, webhook_events: 'start,progress,completed', style: 'anthem' }, { prefer: 'wait=60' });
    expect(waited.status, logs.slice(-20).join('\n')).toBe(201);
    expect(waited.headers.get('preference-applied')).toBe('wait=60');
    const finished = (await waited.json()) as { id: string; status: string; final_audio_url: string | null; status_url: string };
    expect(finished).toMatchObject({ status: 'COMPLETED', final_audio_url: expect.stringContaining('preview.mp3'), status_url: `/v1/moments/${finished.id}` });

    const deadline = Date.now() + 90_000;
    while (on('/flaky').length < 2 && Date.now() < deadline) await new Promise((done) => setTimeout(done, 250));
    const deliveries = on('/flaky');
    const [webhookId, retriedId] = deliveries.map((request) => request.headers['webhook-id']);
    expect(webhookId).toMatch(new RegExp(`^msg_${id}_\\d+$`));
    expect(retriedId).toBe(webhookId);
    const payload = new Webhook(SECRET).verify(deliveries[1].body, deliveries[1].headers) as { type: string; data: { id: string; status: string; final_audio_url: string } };
    expect(payload).toMatchObject({ type: 'moment.completed', data: { id, status: 'COMPLETED', final_audio_url: expect.stringContaining('preview.mp3') } });
    const preview = await fetch(payload.data.final_audio_url);
    expect(preview.status).toBe(200);
    expect((await preview.arrayBuffer()).byteLength).toBeGreaterThan(10_000);
    expect((await adminJob(id)).webhook_deliveries).toMatchObject([{ event: 'moment.completed', state: 'delivered', attempts: [{ status: 500 }, { status: 204 }] }]);

    // The other moment's receiver answered its first delivery (the start) with 410: nothing more went there.
    expect(on('/gone').map((request) => (JSON.parse(request.body) as { type: string }).type)).toEqual(['moment.started']);
    expect((await adminJob(finished.id)).webhook_deliveries.map((delivery) => [delivery.event, delivery.state, delivery.attempts.length])).toEqual([['moment.started', 'gone', 1]]);
  });
});
