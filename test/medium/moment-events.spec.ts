import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Test, type TestingModule } from '@nestjs/testing';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreModule, MomentLifecycle, StorageRepository, loadConfig } from '@mcm/core';
import { OutputKind, type MomentEvent } from '@mcm/pipeline';
import { ApiModule } from '../../apps/api/src/api.module';
import { configureApi } from '../../apps/api/src/http/server-setup';
import { ownerOf } from '../../apps/api/src/guards/api-key.guard';
import { TransitionPointBackfill1768000000000 } from '../../libs/core/src/database/migrations/1768000000000-transition-point-backfill';
import { readEventStream } from '../support/event-stream';
import { createTestEnv, type TestEnv } from '../support/test-env';

const KEY_A = 'events-key-a-0123456789';
const KEY_B = 'events-key-b-0123456789';
const analyzed: MomentEvent = { type: 'STAGE_SUCCEEDED', stage: 'analyze', output: { analysis: { duration_s: 12, tempo_bpm: 96, key: 'Am' } as never }, durationMs: 42 };

async function startApi(env: NodeJS.ProcessEnv): Promise<{ app: INestApplication; base: string }> {
  const config = loadConfig(env);
  const app = await NestFactory.create(ApiModule.forRoot(config), { logger: false });
  configureApi(app, config);
  await app.get(StorageRepository).ensureBucket();
  await app.listen(0, '127.0.0.1');
  return { app, base: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}` };
}

/**
 * Live events against Postgres and Redis: changes are committed by the lifecycle in its own
 * module (as a worker does) and streamed by api instances that never made them.
 */
describe('moment events over server-sent events', () => {
  let testEnv: TestEnv;
  let core: TestingModule;
  let lifecycle: MomentLifecycle;
  let first: Awaited<ReturnType<typeof startApi>>;
  let second: Awaited<ReturnType<typeof startApi>>;
  let keyed: Awaited<ReturnType<typeof startApi>>;
  let db: Client;

  beforeAll(async () => {
    testEnv = await createTestEnv({ SSE_HEARTBEAT_MS: '200' });
    core = await Test.createTestingModule({ imports: [CoreModule.forRoot(testEnv.config)] }).compile();
    await core.init();
    lifecycle = core.get(MomentLifecycle);
    [first, second, keyed] = await Promise.all([
      startApi(testEnv.env),
      startApi(testEnv.env),
      // Checks every watched moment often: the lost-notification test relies on it, the others must not.
      startApi({ ...testEnv.env, API_KEYS: `${KEY_A},${KEY_B}`, SSE_RECHECK_MS: '300' }),
    ]);
    db = new Client({ connectionString: testEnv.config.DATABASE_URL });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await Promise.all([first?.app.close(), second?.app.close(), keyed?.app.close()]);
    await core?.close();
    await testEnv?.cleanup();
  });

  const create = (owner: string | null = null) => lifecycle.create({ momentId: randomUUID(), outputKind: OutputKind.Preview, originalKey: 'moments/x/original.m4a', owner });
  const eventsUrl = (base: string, id: string) => `${base}/v1/moments/${id}/events`;
  const statuses = (events: { data: string }[]) => events.map((event) => (JSON.parse(event.data) as { status: string }).status);

  it('streams each status and progress change committed elsewhere, on two instances alike, and ends after the terminal one', async () => {
    const moment = await create();
    const [onFirst, onSecond] = await Promise.all([readEventStream(eventsUrl(first.base, moment.id)), readEventStream(eventsUrl(second.base, moment.id))]);
    expect(onFirst.status).toBe(200);
    expect(onFirst.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(onFirst.headers.get('cache-control')).toContain('no-cache');
    expect(onFirst.headers.get('x-accel-buffering')).toBe('no');
    await onSecond.waitFor(1);

    await lifecycle.apply(moment.id, analyzed);
    await onSecond.waitFor(2);
    // Ignored (a duplicate result) and therefore silent.
    await lifecycle.apply(moment.id, analyzed);
    await lifecycle.apply(moment.id, { type: 'CANCEL', reason: 'test' });
    await Promise.all([onFirst.done, onSecond.done]);

    for (const stream of [onFirst, onSecond]) {
      expect(stream.ended).toBe(true);
      expect(stream.events.map((event) => event.event)).toEqual(['moment.status', 'moment.status', 'moment.canceled']);
      expect(statuses(stream.events)).toEqual(['PENDING', 'ANALYZING', 'CANCELED']);
      const ids = stream.events.map((event) => BigInt(event.id!));
      expect([...ids].sort((a, b) => (a < b ? -1 : 1))).toEqual(ids);
      expect(new Set(ids).size).toBe(ids.length);
      expect(JSON.parse(stream.events[1].data)).toMatchObject({ id: moment.id, stage: 'compose', progress: expect.any(Number) });
    }
    expect(onSecond.events.map((event) => event.id)).toEqual(onFirst.events.map((event) => event.id));
    const rows = await db.query<{ id: string }>('SELECT id FROM moment_transitions WHERE moment_id = $1 AND applied ORDER BY id', [moment.id]);
    expect(onFirst.events.map((event) => event.id)).toEqual(rows.rows.map((row) => row.id));
  });

  it('resumes after Last-Event-ID with no gap and no repeat, on another instance', async () => {
    const moment = await create();
    const before = await readEventStream(eventsUrl(first.base, moment.id));
    await lifecycle.apply(moment.id, analyzed);
    const seen = await before.waitFor(2);
    before.abort();
    await lifecycle.apply(moment.id, { type: 'CANCEL', reason: 'test' });

    const after = await readEventStream(eventsUrl(second.base, moment.id), { 'last-event-id': seen[1].id! });
    await after.done;
    expect(after.events.map((event) => event.event)).toEqual(['moment.canceled']);
    expect(BigInt(after.events[0].id!)).toBeGreaterThan(BigInt(seen[1].id!));

    // Resuming from the terminal event: nothing more, and the stream ends at once.
    const finished = await readEventStream(eventsUrl(first.base, moment.id), { 'last-event-id': after.events[0].id! });
    await finished.done;
    expect(finished.events).toEqual([]);
    expect(finished.ended).toBe(true);

    // Without Last-Event-ID the whole history replays, each change once.
    const replay = await readEventStream(eventsUrl(second.base, moment.id));
    await replay.done;
    expect(statuses(replay.events)).toEqual(['PENDING', 'ANALYZING', 'CANCELED']);
  });

  it('keeps an idle stream open with heartbeat comments', async () => {
    const moment = await create();
    const stream = await readEventStream(eventsUrl(first.base, moment.id));
    await stream.waitFor(1);
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(stream.comments.filter((comment) => comment === 'heartbeat').length).toBeGreaterThanOrEqual(2);
    expect(stream.ended).toBe(false);
    stream.abort();
  });

  it("answers as GET /v1/moments/{id} does: a key is required, another key's moment and unknown ids are 404, deleted ones 410", async () => {
    const moment = await create(ownerOf(KEY_A));
    expect((await readEventStream(eventsUrl(keyed.base, moment.id))).status).toBe(401);
    expect((await readEventStream(eventsUrl(keyed.base, moment.id), { 'x-api-key': KEY_B })).status).toBe(404);
    expect((await readEventStream(eventsUrl(keyed.base, randomUUID()), { 'x-api-key': KEY_A })).status).toBe(404);
    expect((await readEventStream(eventsUrl(keyed.base, 'not-an-id'), { 'x-api-key': KEY_A })).status).toBe(404);
    const own = await readEventStream(eventsUrl(keyed.base, moment.id), { authorization: `Bearer ${KEY_A}` });
    expect(own.status).toBe(200);
    expect(await own.waitFor(1)).toHaveLength(1);
    own.abort();
    await lifecycle.delete(moment.id, 'client');
    expect((await readEventStream(eventsUrl(keyed.base, moment.id), { 'x-api-key': KEY_A })).status).toBe(410);
  });

  it('replays a moment whose history predates the recorded points from where it stands, once migrated', async () => {
    const [legacy, current] = await Promise.all([create(), create()]);
    for (const moment of [legacy, current]) {
      await lifecycle.apply(moment.id, analyzed);
      await lifecycle.apply(moment.id, { type: 'CANCEL', reason: 'test' });
    }
    // As rows written before the points were recorded: none of the legacy moment's rows says where it left the moment.
    await db.query('UPDATE moment_transitions SET status = NULL, moment_stage = NULL, progress = NULL WHERE moment_id = $1', [legacy.id]);
    const before = await db.query('SELECT id, status, moment_stage, progress FROM moment_transitions WHERE moment_id = $1 ORDER BY id', [current.id]);

    const runner = core.get(DataSource).createQueryRunner();
    try {
      await new TransitionPointBackfill1768000000000().up(runner);
    } finally {
      await runner.release();
    }

    const rows = await db.query<{ id: string; status: string | null }>('SELECT id, status FROM moment_transitions WHERE moment_id = $1 ORDER BY id', [legacy.id]);
    expect(rows.rows.map((row) => row.status)).toEqual([null, null, 'CANCELED']);
    const replay = await readEventStream(eventsUrl(first.base, legacy.id));
    await replay.done;
    expect(replay.ended).toBe(true);
    expect(replay.events.map((event) => [event.event, event.id])).toEqual([['moment.canceled', rows.rows[2].id]]);
    // Rows that recorded their points are left as they were.
    expect((await db.query('SELECT id, status, moment_stage, progress FROM moment_transitions WHERE moment_id = $1 ORDER BY id', [current.id])).rows).toEqual(before.rows);
  });

  it('heals a change whose notification never came from the history', async () => {
    const moment = await create(ownerOf(KEY_A));
    const stream = await readEventStream(eventsUrl(keyed.base, moment.id), { 'x-api-key': KEY_A });
    await stream.waitFor(1);
    // Committed without NOTIFY, as if the message were lost on the way.
    await db.query('BEGIN');
    await db.query(
      `INSERT INTO moment_transitions (moment_id, event_type, stage, from_state, to_state, applied, detail, status, moment_stage, progress)
       VALUES ($1, 'CANCEL', NULL, 'active.pending', 'canceled', true, 'lost', 'CANCELED', NULL, 0)`,
      [moment.id],
    );
    await db.query(`UPDATE moments SET status = 'CANCELED', stage = NULL WHERE id = $1`, [moment.id]);
    await db.query('COMMIT');
    await stream.done;
    expect(stream.events.map((event) => event.event)).toEqual(['moment.status', 'moment.canceled']);
  });
});
