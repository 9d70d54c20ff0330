import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MomentLifecycle, StageQueue, StorageRepository } from '@mcm/core';
import { ffmpegBinary } from '@mcm/audio';
import { PUBLIC_ERROR_MESSAGES, stageJobId } from '@mcm/pipeline';
import { entityTag } from '../../apps/api/src/http/entity-tag';
import { startMusicToolsHttp } from '../../apps/music-tools/src/http';
import { TEN_HOUR_BLUEPRINT } from '../support/blueprints';
import { startApi, type InProcessApi as Api } from '../support/in-process-api';
import { createTestEnv, type TestEnv } from '../support/test-env';

const ADMIN_TOKEN = 'medium-test-admin-token';
const M4A = readFileSync(join(__dirname, '../fixtures/hum-phone.m4a'));
const BLUEPRINT = {
  id: 'bp-medium',
  style: 'cinematic',
  tempo_bpm: 96,
  key: 'Am',
  sections: [{ name: 'intro', bars: 2 }],
  lyrics: 'Here I come',
  voice: { voice_id: 'local' },
};
const OPERATION_IDS = [
  'createMoment',
  'getMoment',
  'streamMomentEvents',
  'cancelMoment',
  'deleteMoment',
  'deleteJob',
  'createMomentCompat',
  'getStatusCompat',
  'listJobs',
  'getJob',
  'retryJob',
  'retryFailedJobs',
  'healthz',
  'readyz',
];

type Fields = Record<string, string>;
function form(file: { data: Buffer; name: string } | null, fields: Fields = {}): FormData {
  const body = new FormData();
  if (file) body.append('file', new Blob([new Uint8Array(file.data)]), file.name);
  for (const [name, value] of Object.entries(fields)) body.append(name, value);
  return body;
}

describe('api against Postgres, Redis and S3', () => {
  let testEnv: TestEnv;
  let api: Api;
  let strict: Api;
  let db: Client;
  let storage: StorageRepository;
  let lifecycle: MomentLifecycle;
  let queue: StageQueue;

  beforeAll(async () => {
    testEnv = await createTestEnv({ ADMIN_TOKEN, MAX_UPLOAD_MB: '1', MAX_AUDIO_SECONDS: '60' });
    api = await startApi(testEnv.env);
    // Same database and storage; tight audio length and no admin token.
    strict = await startApi({ ...testEnv.env, ADMIN_TOKEN: '', MAX_AUDIO_SECONDS: '5' });
    db = new Client({ connectionString: testEnv.config.DATABASE_URL });
    await db.connect();
    storage = api.app.get(StorageRepository);
    lifecycle = api.app.get(MomentLifecycle);
    queue = api.app.get(StageQueue);
  });

  afterAll(async () => {
    await db?.end();
    await api?.app.close();
    await strict?.app.close();
    await testEnv?.cleanup();
  });

  const rowCount = async () => Number((await db.query('SELECT count(*) FROM moments')).rows[0].count);
  const objectCount = async () => (await storage.listKeys('moments/')).length;
  const post = (target: Api, path: string, body: FormData, headers: Record<string, string> = {}) => fetch(`${target.base}${path}`, { method: 'POST', body, headers });
  const admin = (path: string, init: RequestInit = {}) =>
    fetch(`${api.base}/v1/admin${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...init.headers } });
  const create = async (fields: Fields = {}, headers: Record<string, string> = {}) => {
    const response = await post(api, '/v1/moments', form({ data: M4A, name: 'hum.m4a' }, fields), headers);
    expect(response.status).toBe(202);
    return (await response.json()) as { id: string; job_id: string; status: string; status_url: string };
  };

  async function expectProblem(response: Response, status: number, code: string) {
    const body = await response.json();
    expect({ status: response.status, code: body.code }).toEqual({ status, code });
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(body).toMatchObject({ type: expect.stringMatching(/^https:\/\/main-character\.app\/problems\//), title: expect.any(String), status, detail: expect.any(String) });
    return body;
  }

  it('creates a moment: 202, a row, the original object and a waiting analyze job', async () => {
    const created = await create({ style: 'anthem', title: 'Monday Hero', output_kind: 'song', blueprint_json: JSON.stringify(BLUEPRINT) });
    expect(created).toEqual({ job_id: created.id, id: created.id, status: 'PENDING', status_url: `/v1/moments/${created.id}` });

    const row = (await db.query('SELECT status, output_kind, style, title, assets, blueprint FROM moments WHERE id = $1', [created.id])).rows[0];
    expect(row).toMatchObject({ status: 'PENDING', output_kind: 'song', style: 'anthem', title: 'Monday Hero', assets: { original: `moments/${created.id}/original.m4a` } });
    expect(row.blueprint).toMatchObject({ ...BLUEPRINT, time_signature: '4/4' });
    expect(await storage.listKeys(`moments/${created.id}/`)).toEqual([`moments/${created.id}/original.m4a`]);

    const job = await queue.queue('analyze').getJob(stageJobId(created.id, { stage: 'analyze', run: 1, attempt: 1 }));
    expect(job?.queueName).toBe('stage-analyze');
    expect(job?.data).toEqual({ momentId: created.id, stage: 'analyze', run: 1, attempt: 1 });
    expect(await job?.getState()).toBe('waiting');
  });

  it('refuses a valid blueprint that asks for more than MAX_RENDER_SECONDS of audio, before anything is stored', async () => {
    const [rows, objects] = [await rowCount(), await objectCount()];
    for (const path of ['/v1/moments', '/v1/create-moment']) {
      const response = await post(api, path, form({ data: M4A, name: 'hum.m4a' }, { blueprint_json: JSON.stringify(TEN_HOUR_BLUEPRINT) }));
      const body = await expectProblem(response, 422, 'BLUEPRINT_TOO_LONG');
      expect(body.detail).toBe('The blueprint asks for 10.6 hours of audio; at most 300 seconds can be rendered.');
    }
    expect([await rowCount(), await objectCount()]).toEqual([rows, objects]);
    // The longest allowed render is accepted.
    const longest = { ...BLUEPRINT, sections: [{ name: 'verse', bars: 120 }] };
    expect((await create({ blueprint_json: JSON.stringify(longest) })).status).toBe('PENDING');
  });

  it('returns the moment with presigned URLs that serve the upload', async () => {
    const created = await create();
    const response = await fetch(`${api.base}/v1/moments/${created.id}`);
    expect(response.status).toBe(200);
    const moment = await response.json();
    expect(moment).toMatchObject({
      id: created.id,
      job_id: created.id,
      status: 'PENDING',
      stage: 'analyze',
      progress: 0,
      output_kind: 'preview',
      original_filename: 'hum.m4a',
      blueprint_json: null,
      final_audio_url: null,
      analysis: null,
      error: null,
      attempts: 1,
      completed_at: null,
      timings_ms: {},
      assets: { vocals: null, instrumental: null, preview: null, master: null, midi: null, peaks: null },
    });
    expect(moment.original_audio_url).toContain(`/moments/${created.id}/original.m4a?`);
    expect(moment.original_audio_url).toContain('X-Amz-Signature=');
    expect(moment.assets.original).toContain('X-Amz-Signature=');
    const audio = await fetch(moment.original_audio_url);
    expect(audio.status).toBe(200);
    expect(Buffer.from(await audio.arrayBuffer())).toEqual(M4A);
    expect(new Date(moment.created_at).getTime()).toBeGreaterThan(Date.now() - 60_000);
  });

  describe('conditional reads', () => {
    it('tags a moment with an ETag and answers 304 with no body to If-None-Match until it changes', async () => {
      const { id } = await create();
      const url = `${api.base}/v1/moments/${id}`;
      const first = await fetch(url);
      const tag = first.headers.get('etag')!;
      const body = await first.text();
      expect(tag).toBe(entityTag(body));
      expect(first.headers.get('cache-control')).toBe('private, no-cache');
      expect(first.headers.get('content-type')).toBe('application/json; charset=utf-8');
      // Its presigned URLs are reused, so an unchanged moment reads the same, byte for byte.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const again = await fetch(url);
      expect([again.headers.get('etag'), await again.text()]).toEqual([tag, body]);

      for (const ifNoneMatch of [tag, `W/${tag}`, `"some-other-tag", ${tag}`, '*']) {
        const notModified = await fetch(url, { headers: { 'if-none-match': ifNoneMatch } });
        expect(notModified.status).toBe(304);
        expect(notModified.headers.get('etag')).toBe(tag);
        expect(await notModified.text()).toBe('');
      }
      expect((await fetch(url, { headers: { 'if-none-match': '"some-other-tag"' } })).status).toBe(200);

      expect((await fetch(`${url}/cancel`, { method: 'POST' })).status).toBe(202);
      const changed = await fetch(url, { headers: { 'if-none-match': tag } });
      expect(changed.status).toBe(200);
      expect(changed.headers.get('etag')).not.toBe(tag);
      expect((await changed.json()).status).toBe('CANCELED');
    });

    it('tags the original status route and the admin list too', async () => {
      const { id } = await create();
      const status = await fetch(`${api.base}/v1/status/${id}`);
      const statusTag = status.headers.get('etag')!;
      expect(statusTag).toBe(entityTag(await status.text()));
      expect((await fetch(`${api.base}/v1/status/${id}`, { headers: { 'if-none-match': statusTag } })).status).toBe(304);

      const list = await admin('/jobs?limit=5');
      const listTag = list.headers.get('etag')!;
      expect(listTag).toBe(entityTag(await list.text()));
      expect((await admin('/jobs?limit=5', { headers: { 'if-none-match': listTag } })).status).toBe(304);
      await create();
      expect((await admin('/jobs?limit=5', { headers: { 'if-none-match': listTag } })).status).toBe(200);
    });

    it('answers 404 for an unknown moment whatever If-None-Match says', async () => {
      await expectProblem(await fetch(`${api.base}/v1/moments/${randomUUID()}`, { headers: { 'if-none-match': '*' } }), 404, 'MOMENT_NOT_FOUND');
    });
  });

  // The bad-input corpus (test/medium/bad-input.spec.ts) covers refused uploads case by case.
  describe('refuses bad uploads before storing anything', () => {
    it('lists every blueprint error with its JSON path', async () => {
      const response = await post(api, '/v1/moments', form({ data: M4A, name: 'a.m4a' }, { blueprint_json: JSON.stringify({ ...BLUEPRINT, tempo_bpm: 500, extra: 1 }) }));
      const problem = await expectProblem(response, 422, 'BLUEPRINT_INVALID');
      expect(problem.errors).toEqual(
        expect.arrayContaining([
          { path: '/tempo_bpm', message: 'must be <= 220' },
          { path: '/extra', message: 'unknown property' },
        ]),
      );
    });
  });

  describe('Idempotency-Key', () => {
    it('returns the first moment for the same request', async () => {
      const key = `same-${randomUUID()}`;
      const first = await create({ title: 'A' }, { 'idempotency-key': key });
      const objects = await objectCount();
      const second = await create({ title: 'A' }, { 'idempotency-key': key });
      expect(second).toEqual(first);
      expect(await objectCount()).toBe(objects);
      expect((await db.query('SELECT count(*) FROM moments WHERE idempotency_key = $1', [key])).rows[0].count).toBe('1');
    });

    it('refuses the same key for a different request', async () => {
      const key = `diff-${randomUUID()}`;
      await create({ title: 'A' }, { 'idempotency-key': key });
      const rows = await rowCount();
      await expectProblem(await post(api, '/v1/moments', form({ data: M4A, name: 'hum.m4a' }, { title: 'B' }), { 'idempotency-key': key }), 422, 'IDEMPOTENCY_KEY_REUSED');
      expect(await rowCount()).toBe(rows);
    });

    it('creates exactly one moment from concurrent duplicates and leaves no stray objects', async () => {
      const key = `race-${randomUUID()}`;
      const [rows, objects] = [await rowCount(), await objectCount()];
      const responses = await Promise.all(Array.from({ length: 10 }, () => post(api, '/v1/moments', form({ data: M4A, name: 'hum.m4a' }), { 'idempotency-key': key })));
      const bodies = await Promise.all(responses.map((response) => response.json()));
      expect(responses.map((response) => response.status)).toEqual(Array(10).fill(202));
      const ids = new Set(bodies.map((body) => body.id));
      expect(ids.size).toBe(1);
      expect(await rowCount()).toBe(rows + 1);
      expect(await objectCount()).toBe(objects + 1);
      const [id] = ids;
      expect(await storage.listKeys(`moments/${id}/`)).toEqual([`moments/${id}/original.m4a`]);
    });

    it('refuses a key over 255 characters', async () => {
      await expectProblem(await post(api, '/v1/moments', form({ data: M4A, name: 'a.m4a' }), { 'idempotency-key': 'k'.repeat(256) }), 400, 'INVALID_IDEMPOTENCY_KEY');
    });
  });

  it('cancels a moment in progress, then refuses to cancel it again', async () => {
    const { id } = await create();
    const response = await fetch(`${api.base}/v1/moments/${id}/cancel`, { method: 'POST' });
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({ id, status: 'CANCELED', stage: null });
    expect(await queue.queue('analyze').getJob(stageJobId(id, { stage: 'analyze', run: 1, attempt: 1 }))).toBeUndefined();
    await expectProblem(await fetch(`${api.base}/v1/moments/${id}/cancel`, { method: 'POST' }), 409, 'MOMENT_NOT_CANCELABLE');
  });

  it('answers 404 for unknown, malformed ids and unknown routes', async () => {
    for (const path of [`/v1/moments/${randomUUID()}`, '/v1/moments/not-a-uuid', '/v1/status/..%2F..%2Fetc', `/v1/moments/${randomUUID()}/cancel`]) {
      const response = await fetch(`${api.base}${path}`, { method: path.endsWith('cancel') ? 'POST' : 'GET' });
      await expectProblem(response, 404, 'MOMENT_NOT_FOUND');
    }
    const unknown = await expectProblem(await fetch(`${api.base}/v1/nothing-here`), 404, 'NOT_FOUND');
    expect(unknown.instance).toBe('/v1/nothing-here');
  });

  it('serves the original routes: create-moment (200) and status', async () => {
    const response = await post(api, '/v1/create-moment', form({ data: M4A, name: 'hum.m4a' }, { output_kind: 'preview' }));
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body).toEqual({ job_id: expect.any(String), status: 'PENDING', status_url: `/v1/status/${body.job_id}` });
    const status = await fetch(`${api.base}${body.status_url}`);
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ id: body.job_id, status: 'PENDING', blueprint_json: null, final_audio_url: null, original_audio_url: expect.stringContaining('original.m4a') });
    await expectProblem(await post(api, '/v1/create-moment', form(null)), 400, 'FILE_REQUIRED');
  });

  describe('admin', () => {
    it('needs the bearer token', async () => {
      const missing = await fetch(`${api.base}/v1/admin/jobs`);
      await expectProblem(missing, 401, 'UNAUTHORIZED');
      expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
      const wrong = await fetch(`${api.base}/v1/admin/jobs`, { headers: { authorization: 'Bearer not-the-token' } });
      await expectProblem(wrong, 401, 'UNAUTHORIZED');
      expect(wrong.headers.get('www-authenticate')).toContain('invalid_token');
    });

    it('is disabled (404) when no token is configured', async () => {
      await expectProblem(await fetch(`${strict.base}/v1/admin/jobs`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }), 404, 'ADMIN_DISABLED');
      await expectProblem(await fetch(`${strict.base}/v1/admin/jobs/${randomUUID()}/retry`, { method: 'POST' }), 404, 'ADMIN_DISABLED');
    });

    it('pages through every job newest first with an opaque cursor', async () => {
      for (let i = 0; i < 3; i += 1) await create();
      const expected = (await db.query('SELECT id FROM moments ORDER BY created_at DESC, id DESC')).rows.map((row) => row.id);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const response = await admin(`/jobs?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(response.status).toBe(200);
        const page = await response.json();
        expect(page.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.items.map((item: { id: string }) => item.id));
        cursor = page.next_cursor;
      } while (cursor);
      expect(seen).toEqual(expected);
    });

    it('refuses invalid queries with 400', async () => {
      await expectProblem(await admin('/jobs?limit=abc'), 400, 'VALIDATION_FAILED');
      await expectProblem(await admin('/jobs?limit=1000'), 400, 'VALIDATION_FAILED');
      await expectProblem(await admin('/jobs?status=DONE'), 400, 'VALIDATION_FAILED');
      await expectProblem(await admin('/jobs?cursor=bm90LWEtY3Vyc29y'), 400, 'INVALID_CURSOR');
      await expectProblem(await admin('/jobs?sort=id'), 400, 'VALIDATION_FAILED');
    });

    it('shows a job with its machine state and history', async () => {
      const { id } = await create();
      const response = await admin(`/jobs/${id}`);
      expect(response.status).toBe(200);
      const job = await response.json();
      expect(job).toMatchObject({
        id,
        status: 'PENDING',
        machine: { version: 1, state: 'active.pending', value: { active: 'pending' }, context: { runs: 1, total_attempts: 1, has_analysis: false, assets: ['original'] } },
      });
      expect(job.history).toEqual([{ event_type: 'CREATED', stage: null, from_state: '', to_state: 'active.pending', applied: true, detail: null, created_at: expect.any(String) }]);
      await expectProblem(await admin(`/jobs/${randomUUID()}`), 404, 'MOMENT_NOT_FOUND');
    });

    it('retries a FAILED job from the stage that failed and enqueues it', async () => {
      const { id } = await create();
      await lifecycle.apply(id, { type: 'STAGE_FAILED', stage: 'analyze', error: { code: 'AUDIO_UNDECODABLE', message: 'cannot decode', retryable: false } });
      const failed = await (await fetch(`${api.base}/v1/moments/${id}`)).json();
      // Clients get the sentence of the code; the raw cause is for operators.
      expect(failed).toMatchObject({ status: 'FAILED', stage: 'analyze', error: { stage: 'analyze', code: 'AUDIO_UNDECODABLE', message: PUBLIC_ERROR_MESSAGES.AUDIO_UNDECODABLE, retryable: false } });
      expect(JSON.stringify(failed)).not.toContain('cannot decode');
      expect(await (await admin(`/jobs/${id}`)).json()).toMatchObject({ error: failed.error, error_detail: 'cannot decode' });

      const listed = await (await admin('/jobs?status=FAILED,CANCELED')).json();
      expect(listed.items.map((item: { id: string }) => item.id)).toContain(id);
      expect(listed.items.find((item: { id: string }) => item.id === id).error_detail).toBe('cannot decode');
      expect(listed.items.every((item: { status: string }) => ['FAILED', 'CANCELED'].includes(item.status))).toBe(true);

      const response = await admin(`/jobs/${id}/retry`, { method: 'POST' });
      expect(response.status).toBe(202);
      expect(await response.json()).toMatchObject({ id, status: 'PENDING', stage: 'analyze', error: null });
      const job = await queue.queue('analyze').getJob(stageJobId(id, { stage: 'analyze', run: 2, attempt: 1 }));
      expect(await job?.getState()).toBe('waiting');
      const history = (await (await admin(`/jobs/${id}`)).json()).history;
      expect(history.map((row: { event_type: string }) => row.event_type)).toEqual(['CREATED', 'STAGE_FAILED', 'RETRY']);

      await expectProblem(await admin(`/jobs/${id}/retry`, { method: 'POST' }), 409, 'MOMENT_NOT_RETRYABLE');
    });

    it('retries failed jobs in bulk with filters', async () => {
      const fail = async (stage: 'analyze', code: string) => {
        const { id } = await create();
        await lifecycle.apply(id, { type: 'STAGE_FAILED', stage, error: { code, message: code, retryable: false } });
        return id;
      };
      const engine = await fail('analyze', 'AUDIO_ENGINE_FAILED');
      const other = await fail('analyze', 'AUDIO_SILENT');
      const response = await admin('/jobs/retry-failed', {
        method: 'POST',
        body: JSON.stringify({ code: 'AUDIO_ENGINE_FAILED', stage: 'analyze', created_after: new Date(Date.now() - 60_000).toISOString() }),
      });
      expect(response.status).toBe(202);
      expect(await response.json()).toEqual({ retried: [engine], count: 1 });
      expect((await (await fetch(`${api.base}/v1/moments/${other}`)).json()).status).toBe('FAILED');

      await expectProblem(await admin('/jobs/retry-failed', { method: 'POST', body: JSON.stringify({ status: ['COMPLETED'] }) }), 400, 'VALIDATION_FAILED');
      await expectProblem(await admin('/jobs/retry-failed', { method: 'POST', body: JSON.stringify({ limit: 501 }) }), 400, 'VALIDATION_FAILED');
      await expectProblem(await admin('/jobs/retry-failed', { method: 'POST', body: '{not json' }), 400, 'INVALID_JSON');
    });
  });

  it('answers the health probes', async () => {
    const health = await fetch(`${api.base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    // No music-tools runs in this test: readiness names it.
    const ready = await fetch(`${api.base}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ code: 'NOT_READY', checks: { database: 'up', redis: 'up', storage: 'up', music_tools: 'down' } });
  });

  it('answers ready with every check up and its ffmpeg once music-tools runs', async () => {
    const musicTools = await startMusicToolsHttp({ port: 0 });
    const ready = await startApi({ ...testEnv.env, MCP_BASE_URL: `http://127.0.0.1:${musicTools.port}` });
    try {
      const response = await fetch(`${ready.base}/readyz`);
      expect(response.status).toBe(200);
      const { version, source } = ffmpegBinary();
      expect(await response.json()).toEqual({ status: 'ok', checks: { database: 'up', redis: 'up', storage: 'up', music_tools: 'up' }, ffmpeg: { version, source } });
    } finally {
      await ready.app.close();
      await musicTools.close();
    }
  });

  it('publishes the OpenAPI document and Swagger UI', async () => {
    const response = await fetch(`${api.base}/docs/openapi.json`);
    expect(response.status).toBe(200);
    const document = await response.json();
    const operations = Object.values(document.paths).flatMap((item) => Object.values(item as Record<string, { operationId: string }>).map((op) => op.operationId));
    expect(operations.sort()).toEqual([...OPERATION_IDS].sort());
    expect(document.components.schemas.Blueprint).toMatchObject({ type: 'object', required: expect.arrayContaining(['tempo_bpm', 'voice']) });
    expect(document.paths['/v1/moments'].post.requestBody.content['multipart/form-data'].schema.$ref).toBe('#/components/schemas/CreateMomentFormDto');
    expect(document.paths['/v1/admin/jobs'].get.security).toEqual([{ admin: [] }]);
    const ui = await fetch(`${api.base}/docs`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('swagger');
  });
});
