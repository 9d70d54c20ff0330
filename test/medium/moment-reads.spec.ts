import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Test, type TestingModule } from '@nestjs/testing';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DataSource } from 'typeorm';
import { CoreModule, MomentLifecycle, MomentsRepository, StorageRepository, loadConfig } from '@mcm/core';
import { OutputKind, type MomentEvent } from '@mcm/pipeline';
import { ApiModule } from '../../apps/api/src/api.module';
import { configureApi } from '../../apps/api/src/http/server-setup';
import { ownerOf } from '../../apps/api/src/guards/api-key.guard';
import { createTestEnv, type TestEnv } from '../support/test-env';

const KEY_A = 'reads-key-a-0123456789';
const KEY_B = 'reads-key-b-0123456789';
const analyzed: MomentEvent = { type: 'STAGE_SUCCEEDED', stage: 'analyze', output: { analysis: { duration_s: 12, tempo_bpm: 96, key: 'Am' } as never }, durationMs: 42 };

/**
 * Status polls against Postgres: the api answers an unchanged moment from the view it built, and sees
 * every committed change at once, whoever made it (the lifecycle in another module, as a worker does,
 * or plain SQL), because each read still asks Postgres for the row's version.
 */
describe('reads of a moment', () => {
  let testEnv: TestEnv;
  let core: TestingModule;
  let lifecycle: MomentLifecycle;
  let repository: MomentsRepository;
  let app: INestApplication;
  let base: string;
  let db: Client;

  beforeAll(async () => {
    testEnv = await createTestEnv({ API_KEYS: `${KEY_A},${KEY_B}` });
    core = await Test.createTestingModule({ imports: [CoreModule.forRoot(testEnv.config)] }).compile();
    await core.init();
    lifecycle = core.get(MomentLifecycle);
    repository = core.get(MomentsRepository);
    const config = loadConfig(testEnv.env);
    app = await NestFactory.create(ApiModule.forRoot(config), { logger: false });
    configureApi(app, config);
    await app.get(StorageRepository).ensureBucket();
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    db = new Client({ connectionString: testEnv.config.DATABASE_URL });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await app?.close();
    await core?.close();
    await testEnv?.cleanup();
  });

  const create = () => lifecycle.create({ momentId: randomUUID(), outputKind: OutputKind.Preview, originalKey: 'moments/x/original.m4a', owner: ownerOf(KEY_A) });
  const read = async (id: string, key = KEY_A, headers: Record<string, string> = {}) => {
    const response = await fetch(`${base}/v1/moments/${id}`, { headers: { authorization: `Bearer ${key}`, ...headers } });
    return { status: response.status, etag: response.headers.get('etag'), body: response.status === 200 ? ((await response.json()) as Record<string, unknown>) : await response.text() };
  };

  it('gets no columns back from Postgres for a row still at the version the caller read', async () => {
    const moment = await create();
    const first = await repository.findReading(moment.id);
    expect(first?.moment).toMatchObject({ id: moment.id, status: 'PENDING', owner: ownerOf(KEY_A) });
    const again = await repository.findReading(moment.id, first!.version);
    expect(again).toEqual({ version: first!.version, owner: ownerOf(KEY_A), deletedAt: null, moment: null });

    await lifecycle.apply(moment.id, analyzed);
    const changed = await repository.findReading(moment.id, first!.version);
    expect(changed?.version).not.toBe(first!.version);
    expect(changed?.moment).toMatchObject({ status: 'ANALYZING', stage: 'compose' });
  });

  it('asks Postgres once for the versions of the moments read in the same turn of the event loop', async () => {
    const moments = await Promise.all([create(), create(), create()]);
    const versions = await Promise.all(moments.map(async (moment) => (await repository.findReading(moment.id))!.version));
    await lifecycle.apply(moments[1].id, analyzed);
    const query = vi.spyOn(core.get(DataSource), 'query');
    try {
      const readings = await Promise.all([...moments.map((moment, index) => repository.findReading(moment.id, versions[index])), repository.findReading(randomUUID(), versions[0])]);
      expect(readings.map((reading) => reading && (reading.moment ? reading.moment.status : 'unchanged'))).toEqual(['unchanged', 'ANALYZING', 'unchanged', null]);
      // One statement for the four versions; the changed row's columns follow in a second.
      expect(query.mock.calls.map(([sql]) => (/= ANY\(/.test(sql) ? 'versions' : 'columns'))).toEqual(['versions', 'columns']);
    } finally {
      query.mockRestore();
    }
  });

  it('answers an unchanged moment with the same body and ETag, and each change at once, whoever wrote it', async () => {
    const moment = await create();
    const first = await read(moment.id);
    const second = await read(moment.id);
    expect(first.status).toBe(200);
    expect(second).toEqual(first);
    expect(await read(moment.id, KEY_A, { 'if-none-match': first.etag! })).toMatchObject({ status: 304 });

    // Committed by the lifecycle of another module, as a worker would.
    await lifecycle.apply(moment.id, analyzed);
    const analysing = await read(moment.id);
    expect(analysing.body).toMatchObject({ status: 'ANALYZING', stage: 'compose' });
    expect(analysing.etag).not.toBe(first.etag);
    expect(await read(moment.id, KEY_A, { 'if-none-match': first.etag! })).toMatchObject({ status: 200, etag: analysing.etag });

    // Written with plain SQL: no code of ours ran, and the next read still sees it.
    await db.query('UPDATE moments SET title = $2 WHERE id = $1', [moment.id, 'Written behind our back']);
    expect((await read(moment.id)).body).toMatchObject({ title: 'Written behind our back', status: 'ANALYZING' });
  });

  it('checks whose the moment is and whether it was deleted on every read, cached view or not', async () => {
    const moment = await create();
    expect((await read(moment.id)).status).toBe(200);
    expect((await read(moment.id, KEY_B)).status).toBe(404);
    expect((await read(moment.id)).status).toBe(200);

    await fetch(`${base}/v1/moments/${moment.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${KEY_A}` } });
    expect((await read(moment.id)).status).toBe(410);
    expect((await read(moment.id, KEY_B)).status).toBe(404);
  });
});
