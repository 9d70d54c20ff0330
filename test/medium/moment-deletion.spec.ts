import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MomentLifecycle, MomentRetention, MomentsRepository, StageQueue, StorageRepository, loadConfig } from '@mcm/core';
import { stageJobId } from '@mcm/pipeline';
import { startApiWorld, type ApiWorld } from '../support/in-process-api';
import type { TestEnv } from '../support/test-env';

const M4A = readFileSync(join(__dirname, '../fixtures/hum-phone.m4a'));
const secret = (name: string) => `${name}-${randomBytes(12).toString('hex')}`;
const ADMIN_TOKEN = secret('admin-token');
const KEY_A = secret('client-key-a');
const KEY_B = secret('client-key-b');

/**
 * DELETE /v1/moments/{id} and DELETE /v1/admin/jobs/{id} against the real api, Postgres, Redis
 * and S3-compatible storage: the objects go, the row stays as a tombstone, every later request
 * for the moment answers 410, and nothing can bring it back.
 */
describe('deleting a moment', () => {
  let world: ApiWorld;
  let testEnv: TestEnv;
  let app: INestApplication;
  let base: string;
  let db: Client;
  let storage: StorageRepository;
  let lifecycle: MomentLifecycle;
  let queue: StageQueue;

  beforeAll(async () => {
    world = await startApiWorld({ ADMIN_TOKEN, API_KEYS: `${KEY_A},${KEY_B}` });
    ({ testEnv, app, base, db } = world);
    storage = app.get(StorageRepository);
    lifecycle = app.get(MomentLifecycle);
    queue = app.get(StageQueue);
  });

  afterAll(() => world?.close());

  const as = (key: string) => ({ 'x-api-key': key });
  const operator = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const request = (method: string, path: string, headers: Record<string, string>) => fetch(`${base}${path}`, { method, headers });
  const create = async (key = KEY_A): Promise<string> => {
    const body = new FormData();
    body.append('file', new Blob([new Uint8Array(M4A)]), 'hum.m4a');
    body.append('title', 'Morning run');
    body.append('lyrics', 'here I go');
    const response = await fetch(`${base}/v1/moments`, { method: 'POST', body, headers: as(key) });
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  };
  const row = async (id: string) => (await db.query('SELECT * FROM moments WHERE id = $1', [id])).rows[0];
  const events = async (id: string) => (await db.query('SELECT event_type, applied FROM moment_transitions WHERE moment_id = $1 ORDER BY id', [id])).rows;

  async function expectProblem(response: Response, status: number, code: string) {
    const body = await response.json();
    expect({ status: response.status, code: body.code }).toEqual({ status, code });
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    return body;
  }

  it('cancels a moment in progress, removes its objects and keeps a tombstone', async () => {
    const id = await create();
    const analyzeJob = stageJobId(id, { stage: 'analyze', run: 1, attempt: 1 });
    expect(await storage.listKeys(`moments/${id}/`)).toEqual([`moments/${id}/original.m4a`]);
    expect(await queue.queue('analyze').getJob(analyzeJob)).toBeTruthy();

    const response = await request('DELETE', `/v1/moments/${id}`, as(KEY_A));
    expect(response.status).toBe(204);
    expect(await response.text()).toBe('');

    expect(await storage.listKeys(`moments/${id}/`)).toEqual([]);
    // Canceled through its machine: the queued analysis is gone, so no stage starts.
    expect(await queue.queue('analyze').getJob(analyzeJob)).toBeUndefined();
    const tombstone = await row(id);
    expect(tombstone).toMatchObject({ status: 'CANCELED', assets: {}, title: null, lyrics: null, original_filename: null, blueprint: null, analysis: null });
    expect(tombstone.deleted_at).toBeInstanceOf(Date);
    expect(tombstone.snapshot.context.assets).toEqual({});
    expect(JSON.stringify(tombstone)).not.toContain('original.m4a');
    expect(await events(id)).toEqual([
      { event_type: 'CREATED', applied: true },
      { event_type: 'CANCEL', applied: true },
      { event_type: 'DELETED', applied: true },
    ]);
  });

  it('answers 410 MOMENT_DELETED on every route of the deleted moment, and 404 to another key', async () => {
    const id = await create();
    expect((await request('DELETE', `/v1/moments/${id}`, as(KEY_A))).status).toBe(204);

    const gone = await expectProblem(await request('GET', `/v1/moments/${id}`, as(KEY_A)), 410, 'MOMENT_DELETED');
    expect(gone).toMatchObject({ type: expect.stringMatching(/\/problems\//), title: 'Gone', status: 410 });
    await expectProblem(await request('GET', `/v1/status/${id}`, as(KEY_A)), 410, 'MOMENT_DELETED');
    await expectProblem(await request('POST', `/v1/moments/${id}/cancel`, as(KEY_A)), 410, 'MOMENT_DELETED');
    await expectProblem(await request('DELETE', `/v1/moments/${id}`, as(KEY_A)), 410, 'MOMENT_DELETED');
    // Another key learns nothing, not even that the moment existed.
    await expectProblem(await request('GET', `/v1/moments/${id}`, as(KEY_B)), 404, 'MOMENT_NOT_FOUND');
    await expectProblem(await request('DELETE', `/v1/moments/${id}`, as(KEY_B)), 404, 'MOMENT_NOT_FOUND');
  });

  it('refuses another key with 404 and leaves the moment whole', async () => {
    const id = await create(KEY_A);
    await expectProblem(await request('DELETE', `/v1/moments/${id}`, as(KEY_B)), 404, 'MOMENT_NOT_FOUND');
    await expectProblem(await request('DELETE', `/v1/moments/${id}`, {}), 401, 'API_KEY_REQUIRED');
    await expectProblem(await request('DELETE', '/v1/moments/not-a-uuid', as(KEY_A)), 404, 'MOMENT_NOT_FOUND');
    expect((await row(id)).deleted_at).toBeNull();
    expect(await storage.listKeys(`moments/${id}/`)).toEqual([`moments/${id}/original.m4a`]);
    expect((await request('GET', `/v1/moments/${id}`, as(KEY_A))).status).toBe(200);
  });

  it('lets an operator delete any moment, shows it as deleted, and refuses to retry it', async () => {
    const id = await create(KEY_B);
    expect((await request('POST', `/v1/moments/${id}/cancel`, as(KEY_B))).status).toBe(202);
    await expectProblem(await request('DELETE', `/v1/admin/jobs/${id}`, {}), 401, 'UNAUTHORIZED');

    expect((await request('DELETE', `/v1/admin/jobs/${id}`, operator)).status).toBe(204);
    expect(await storage.listKeys(`moments/${id}/`)).toEqual([]);
    // Already CANCELED: deleting it cancels nothing more.
    expect((await events(id)).map((event) => event.event_type)).toEqual(['CREATED', 'CANCEL', 'DELETED']);

    const job = await (await request('GET', `/v1/admin/jobs/${id}`, operator)).json();
    expect(job).toMatchObject({ id, status: 'CANCELED', deleted_at: expect.any(String), original_audio_url: null, title: null, machine: { context: { assets: [] } } });
    expect(Object.values(job.assets).every((url) => url === null)).toBe(true);
    expect(job.history.at(-1)).toMatchObject({ event_type: 'DELETED', detail: 'deleted by an operator' });
    const listed = await (await request('GET', '/v1/admin/jobs?limit=200', operator)).json();
    expect(listed.items.find((item: { id: string }) => item.id === id)).toMatchObject({ deleted_at: job.deleted_at });

    await expectProblem(await request('POST', `/v1/admin/jobs/${id}/retry`, operator), 410, 'MOMENT_DELETED');
    const bulk = await fetch(`${base}/v1/admin/jobs/retry-failed`, { method: 'POST', headers: { ...operator, 'content-type': 'application/json' }, body: JSON.stringify({ status: ['CANCELED'] }) });
    expect((await bulk.json()).retried).not.toContain(id);
    // Skipped outright: the bulk retry offered the tombstone nothing.
    expect((await events(id)).map((event) => event.event_type)).toEqual(['CREATED', 'CANCEL', 'DELETED']);
    await expectProblem(await request('DELETE', `/v1/admin/jobs/${id}`, operator), 410, 'MOMENT_DELETED');
    await expectProblem(await request('DELETE', `/v1/admin/jobs/${randomUUID()}`, operator), 404, 'MOMENT_NOT_FOUND');
    expect((await row(id)).status).toBe('CANCELED');
  });

  it('ignores every event offered to a deleted moment: a late stage result cannot bring it back', async () => {
    const id = await create();
    expect((await request('DELETE', `/v1/moments/${id}`, as(KEY_A))).status).toBe(204);
    const analysis = { duration_s: 12, tempo_bpm: 96, key: 'Am' } as never;
    for (const event of [
      { type: 'STAGE_SUCCEEDED', stage: 'analyze', output: { analysis }, durationMs: 10 },
      { type: 'STAGE_FAILED', stage: 'analyze', error: { code: 'X', message: 'late', retryable: true } },
      { type: 'RETRY' },
    ] as const) {
      expect((await lifecycle.apply(id, event as never))?.applied).toBe(false);
    }
    const tombstone = await row(id);
    expect(tombstone).toMatchObject({ status: 'CANCELED', analysis: null, assets: {} });
    expect(tombstone.deleted_at).toBeInstanceOf(Date);
    expect(await queue.queue('analyze').getJob(stageJobId(id, { stage: 'analyze', run: 1, attempt: 2 }))).toBeUndefined();
    expect(await queue.queue('analyze').getJob(stageJobId(id, { stage: 'analyze', run: 2, attempt: 1 }))).toBeUndefined();
  });

  it('deletes while storage is down, and the retention pass removes the objects once it is back', async () => {
    const id = await create();
    await testEnv.stopStorage();
    try {
      expect((await request('DELETE', `/v1/moments/${id}`, as(KEY_A))).status).toBe(204);
    } finally {
      await testEnv.startStorage();
    }
    await expectProblem(await request('GET', `/v1/moments/${id}`, as(KEY_A)), 410, 'MOMENT_DELETED');
    expect(await storage.listKeys(`moments/${id}/`)).toEqual([`moments/${id}/original.m4a`]);

    const retention = new MomentRetention(app.get(MomentsRepository), lifecycle, storage, loadConfig(testEnv.env));
    const report = await retention.sweep();
    expect(report.removedObjects).toBeGreaterThanOrEqual(1);
    expect(await storage.listKeys(`moments/${id}/`)).toEqual([]);
  });
});
