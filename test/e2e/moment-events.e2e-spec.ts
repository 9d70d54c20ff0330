import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../../scripts/stack';
import { packAndInstallSdk } from '../sdk/pack-sdk';
import { createTestEnv, type TestEnv } from '../support/test-env';

const FIXTURES = resolve(__dirname, '../fixtures');
const ORDER = ['PENDING', 'ANALYZING', 'RENDERING', 'MIXING', 'COMPLETED'];

type Sdk = typeof import('@main-character/sdk');
type StreamEvent = import('@main-character/sdk').MomentStreamEvent;

/** A TCP relay to the api that can cut every connection through it, and remembers what each one asked. */
async function startRelay(target: URL): Promise<{ url: string; requests: string[]; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const requests: string[] = [];
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.once('data', (head) => requests.push(head.toString('latin1')));
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    cut: () => sockets.forEach((socket) => socket.destroy()),
    close: () => new Promise((done) => server.close(() => done())),
  };
}

/**
 * Live events of a real moment, through the packed SDK, from the stack as separate processes:
 * the worker commits the changes, the api streams them.
 */
describe('live moment events, end to end', () => {
  let testEnv: TestEnv;
  let stack: Stack;
  let sdk: Sdk;
  const logs: string[] = [];

  beforeAll(async () => {
    const [installed, env] = await Promise.all([packAndInstallSdk(), createTestEnv()]);
    testEnv = env;
    sdk = installed.require('@main-character/sdk') as Sdk;
    stack = await startStack({ env: testEnv.env, workers: 1, log: (app, line) => logs.push(`[${app}] ${line}`) });
  });

  afterAll(async () => {
    await stack?.stop();
    await testEnv?.cleanup();
  });

  it('streams a moment in order to COMPLETED, and a stream cut mid-way resumes with no gap and no repeat', async () => {
    const client = new sdk.MomentsClient({ baseUrl: stack.apiUrl });
    const relay = await startRelay(new URL(stack.apiUrl));
    const throughRelay = new sdk.MomentsClient({ baseUrl: relay.url });
    const created = await client.createMoment(join(FIXTURES, 'hum-phone.m4a'), { style: 'anthem' });
    const signal = AbortSignal.timeout(110_000);

    const collect = async (stream: AsyncIterable<StreamEvent>, onEvent: (events: StreamEvent[]) => void = () => undefined) => {
      const events: StreamEvent[] = [];
      for await (const event of stream) {
        events.push(event);
        onEvent(events);
      }
      return events;
    };
    let cut = false;
    const [direct, resumed] = await Promise.all([
      collect(client.streamMoment(created.id, { signal })),
      collect(throughRelay.streamMoment(created.id, { signal }), (events) => {
        if (events.length === 2 && !cut) {
          cut = true;
          relay.cut();
        }
      }),
    ]);
    await relay.close();

    const statuses = direct.map((event) => event.moment.status);
    expect(direct[0]).toMatchObject({ type: 'moment.status', moment: { id: created.id, status: 'PENDING' } });
    expect(direct.at(-1)).toMatchObject({ type: 'moment.completed', moment: { status: 'COMPLETED', progress: 1 } });
    expect(direct.some((event) => event.type === 'moment.progress')).toBe(true);
    // Status only moves forward, progress never goes back, ids rise.
    expect(statuses.map((status) => ORDER.indexOf(status))).toEqual([...statuses.map((status) => ORDER.indexOf(status))].sort((a, b) => a - b));
    const progress = direct.map((event) => event.moment.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    const ids = direct.map((event) => BigInt(event.id));
    expect(ids.every((id, index) => index === 0 || id > ids[index - 1])).toBe(true);

    // The relay saw the stream twice: the second request resumed after the second event.
    expect(cut).toBe(true);
    const streamRequests = relay.requests.filter((request) => request.includes('/events'));
    expect(streamRequests.length).toBeGreaterThanOrEqual(2);
    expect(streamRequests[1].toLowerCase()).toContain(`last-event-id: ${resumed[1].id}`);
    expect(resumed.map((event) => event.id)).toEqual(direct.map((event) => event.id));
    expect(resumed.map((event) => event.type)).toEqual(direct.map((event) => event.type));

    // waitForMoment streams too, and a finished moment answers at once.
    const seen: string[] = [];
    const done = await client.waitForMoment(created.id, { timeoutMs: 10_000, onProgress: (moment) => seen.push(moment.status) });
    expect(done.status).toBe('COMPLETED');
    expect(seen[0]).toBe('PENDING');
    expect(seen.at(-1)).toBe('COMPLETED');
  });
});
