import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MusicToolsClient, StorageRepository, loadConfig, secretValues, type MusicToolsError } from '@mcm/core';
import { ownerOf } from '../../apps/api/src/guards/api-key.guard';
import { VALID_BLUEPRINT } from '../../apps/music-tools/test/fixtures';
import { startStack } from '../../scripts/stack';
import { startFakeElevenLabs } from '../support/fake-elevenlabs';
import { startApi, type InProcessApi as Api } from '../support/in-process-api';
import { createTestEnv, type TestEnv } from '../support/test-env';

const M4A = readFileSync(join(__dirname, '../fixtures/hum-phone.m4a'));
const secret = (name: string) => `${name}-${randomBytes(12).toString('hex')}`;
const ADMIN_TOKEN = secret('admin-token');
const KEY_A = secret('client-key-a');
const KEY_B = secret('client-key-b');
/** Keys of their own for the rate-limit test: the counters outlive one test. */
const KEY_C = secret('client-key-c');
const KEY_D = secret('client-key-d');
/** Keys of their own for the in-flight cap: their moments stay in flight (no worker runs here). */
const KEY_E = secret('client-key-e');
const KEY_F = secret('client-key-f');
const KEY_G = secret('client-key-g');
/** Storage checks signatures, so it runs with this distinctive secret from the start. */
const S3_SECRET = secret('s3-secret');

function form(fields: Record<string, string> = {}): FormData {
  const body = new FormData();
  body.append('file', new Blob([new Uint8Array(M4A)]), 'hum.m4a');
  for (const [name, value] of Object.entries(fields)) body.append(name, value);
  return body;
}

async function expectProblem(response: Response, status: number, code: string) {
  const body = await response.json();
  expect({ status: response.status, code: body.code }).toEqual({ status, code });
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  return body;
}

describe('security', () => {
  let testEnv: TestEnv;
  let db: Client;
  const started: Api[] = [];
  const start = async (overrides: NodeJS.ProcessEnv = {}) => {
    const api = await startApi({ ...testEnv.env, ...overrides });
    started.push(api);
    return api;
  };

  beforeAll(async () => {
    testEnv = await createTestEnv({ ADMIN_TOKEN, S3_SECRET_ACCESS_KEY: S3_SECRET });
    await loadConfigStorage().ensureBucket();
    db = new Client({ connectionString: testEnv.config.DATABASE_URL });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    for (const api of started) await api.app.close();
    await testEnv?.cleanup();
  });

  const loadConfigStorage = () =>
    new StorageRepository({
      endpoint: testEnv.config.S3_ENDPOINT,
      region: testEnv.config.S3_REGION,
      bucket: testEnv.config.S3_BUCKET,
      accessKeyId: testEnv.config.S3_ACCESS_KEY_ID,
      secretAccessKey: testEnv.config.S3_SECRET_ACCESS_KEY,
      forcePathStyle: true,
      presignTtlSeconds: 60,
    });
  const rowCount = async () => Number((await db.query('SELECT count(*) FROM moments')).rows[0].count);

  describe('client API keys', () => {
    let api: Api;
    beforeAll(async () => {
      api = await start({ API_KEYS: `${KEY_A}, ${KEY_B}` });
    });

    const create = async (key: string, fields: Record<string, string> = {}, headers: Record<string, string> = {}) => {
      const response = await fetch(`${api.base}/v1/moments`, { method: 'POST', body: form(fields), headers: { 'x-api-key': key, ...headers } });
      expect(response.status).toBe(202);
      return (await response.json()) as { id: string };
    };

    it('refuses every client route without a key (401 API_KEY_REQUIRED) and with an unknown one (401 API_KEY_INVALID)', async () => {
      const rows = await rowCount();
      const id = randomUUID();
      const routes: Array<[string, string, () => RequestInit]> = [
        ['POST', '/v1/moments', () => ({ body: form() })],
        ['GET', `/v1/moments/${id}`, () => ({})],
        ['POST', `/v1/moments/${id}/cancel`, () => ({})],
        ['POST', '/v1/create-moment', () => ({ body: form() })],
        ['GET', `/v1/status/${id}`, () => ({})],
      ];
      for (const [method, path, init] of routes) {
        const missing = await fetch(`${api.base}${path}`, { method, ...init() });
        await expectProblem(missing, 401, 'API_KEY_REQUIRED');
        expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
        await expectProblem(await fetch(`${api.base}${path}`, { method, ...init(), headers: { 'x-api-key': 'not-a-key-of-this-deployment' } }), 401, 'API_KEY_INVALID');
        await expectProblem(await fetch(`${api.base}${path}`, { method, ...init(), headers: { authorization: `Bearer ${KEY_A}x` } }), 401, 'API_KEY_INVALID');
        // The admin token is not a client key.
        await expectProblem(await fetch(`${api.base}${path}`, { method, ...init(), headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }), 401, 'API_KEY_INVALID');
      }
      expect(await rowCount()).toBe(rows);
      expect((await fetch(`${api.base}/healthz`)).status).toBe(200);
    });

    it('stores a non-reversible owner id and shows each key only its own moments', async () => {
      const { id } = await create(KEY_A);
      const { owner } = (await db.query('SELECT owner FROM moments WHERE id = $1', [id])).rows[0];
      expect(owner).toBe(ownerOf(KEY_A));
      expect(owner).toMatch(/^[0-9a-f]{16}$/);
      expect(KEY_A).not.toContain(owner);

      // Its own key, either way it is sent; on both route families.
      expect((await fetch(`${api.base}/v1/moments/${id}`, { headers: { authorization: `Bearer ${KEY_A}` } })).status).toBe(200);
      expect((await fetch(`${api.base}/v1/status/${id}`, { headers: { 'x-api-key': KEY_A } })).status).toBe(200);
      // Another key: as if the moment did not exist.
      await expectProblem(await fetch(`${api.base}/v1/moments/${id}`, { headers: { 'x-api-key': KEY_B } }), 404, 'MOMENT_NOT_FOUND');
      await expectProblem(await fetch(`${api.base}/v1/status/${id}`, { headers: { authorization: `Bearer ${KEY_B}` } }), 404, 'MOMENT_NOT_FOUND');
      await expectProblem(await fetch(`${api.base}/v1/moments/${id}/cancel`, { method: 'POST', headers: { 'x-api-key': KEY_B } }), 404, 'MOMENT_NOT_FOUND');
      expect((await db.query('SELECT status FROM moments WHERE id = $1', [id])).rows[0].status).toBe('PENDING');
      // Admin sees every moment.
      const job = await fetch(`${api.base}/v1/admin/jobs/${id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(job.status).toBe(200);
      const listed = await (await fetch(`${api.base}/v1/admin/jobs?limit=200`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
      expect(listed.items.map((item: { id: string }) => item.id)).toContain(id);
    });

    it('scopes Idempotency-Key per key: the same key from two clients makes two moments', async () => {
      const key = `shared-${randomUUID()}`;
      const a = await create(KEY_A, { title: 'Same' }, { 'idempotency-key': key });
      const b = await create(KEY_B, { title: 'Same' }, { 'idempotency-key': key });
      expect(b.id).not.toBe(a.id);
      expect(await create(KEY_A, { title: 'Same' }, { 'idempotency-key': key })).toEqual(a);
      // A different request under A's key is refused, and B's moment is untouched by it.
      const reused = await fetch(`${api.base}/v1/moments`, { method: 'POST', body: form({ title: 'Other' }), headers: { 'x-api-key': KEY_A, 'idempotency-key': key } });
      await expectProblem(reused, 422, 'IDEMPOTENCY_KEY_REUSED');
      expect((await db.query('SELECT count(*)::int AS n FROM moments WHERE idempotency_key = $1', [key])).rows[0].n).toBe(2);
    });
  });

  describe('rate limit on create', () => {
    it('allows RATE_LIMIT_CREATE_PER_MINUTE per key across both create routes and api instances, then 429 RATE_LIMITED with Retry-After', async () => {
      const env = { API_KEYS: `${KEY_C},${KEY_D}`, RATE_LIMIT_CREATE_PER_MINUTE: '3' };
      const [first, second] = [await start(env), await start(env)];
      // Refused creates count too: the limit is on attempts, checked before the body is read.
      const attempt = (api: Api, path: string, key: string) => fetch(`${api.base}${path}`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', 'x-api-key': key } });
      for (const [api, path] of [
        [first, '/v1/moments'],
        [second, '/v1/create-moment'],
        [first, '/v1/create-moment'],
      ] as const) {
        await expectProblem(await attempt(api, path, KEY_C), 415, 'MULTIPART_REQUIRED');
      }
      for (const [api, path] of [
        [first, '/v1/moments'],
        [second, '/v1/moments'],
        [second, '/v1/create-moment'],
      ] as const) {
        const limited = await attempt(api, path, KEY_C);
        const retryAfter = Number(limited.headers.get('retry-after'));
        await expectProblem(limited, 429, 'RATE_LIMITED');
        expect(retryAfter).toBeGreaterThanOrEqual(1);
        expect(retryAfter).toBeLessThanOrEqual(60);
      }
      // Another key has its own budget; reads are not limited.
      await expectProblem(await attempt(second, '/v1/moments', KEY_D), 415, 'MULTIPART_REQUIRED');
      expect((await fetch(`${first.base}/v1/moments/${randomUUID()}`, { headers: { 'x-api-key': KEY_C } })).status).toBe(404);
    });

    it('limits per address when no API keys are configured, and a full upload is refused before it is read', async () => {
      const api = await start({ RATE_LIMIT_CREATE_PER_MINUTE: '1' });
      const rows = await rowCount();
      expect((await fetch(`${api.base}/v1/moments`, { method: 'POST', body: form() })).status).toBe(202);
      await expectProblem(await fetch(`${api.base}/v1/moments`, { method: 'POST', body: form() }), 429, 'RATE_LIMITED');
      expect(await rowCount()).toBe(rows + 1);
    });
  });

  describe('moments in flight per key', () => {
    let api: Api;
    beforeAll(async () => {
      api = await start({ API_KEYS: `${KEY_E},${KEY_F},${KEY_G}`, MAX_MOMENTS_IN_FLIGHT_PER_KEY: '2' });
    });

    const create = (key: string, fields: Record<string, string> = {}, headers: Record<string, string> = {}) =>
      fetch(`${api.base}/v1/moments`, { method: 'POST', body: form(fields), headers: { 'x-api-key': key, ...headers } });
    const inFlight = async (key: string) =>
      Number((await db.query("SELECT count(*) FROM moments WHERE owner = $1 AND status NOT IN ('COMPLETED', 'FAILED', 'CANCELED')", [ownerOf(key)])).rows[0].count);

    it('answers 429 TOO_MANY_MOMENTS_IN_FLIGHT with Retry-After once a key has MAX_MOMENTS_IN_FLIGHT_PER_KEY moments in flight', async () => {
      const replayKey = `in-flight-${randomUUID()}`;
      const first = await create(KEY_E, { title: 'First' }, { 'idempotency-key': replayKey });
      expect(first.status).toBe(202);
      const { id } = await first.json();
      expect((await create(KEY_E)).status).toBe(202);
      const [rows, objects] = [await rowCount(), (await loadConfigStorage().listKeys('moments/')).length];

      const refused = await create(KEY_E);
      const body = await expectProblem(refused, 429, 'TOO_MANY_MOMENTS_IN_FLIGHT');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(body.detail).toContain('2 moments in progress');
      // Checked before the body is read: a body that is not even multipart gets the same answer.
      const unread = await fetch(`${api.base}/v1/create-moment`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', 'x-api-key': KEY_E } });
      await expectProblem(unread, 429, 'TOO_MANY_MOMENTS_IN_FLIGHT');
      expect(await rowCount()).toBe(rows);
      expect((await loadConfigStorage().listKeys('moments/')).length).toBe(objects);

      // A replay of an existing moment is not a new one; another key has its own allowance.
      const replay = await create(KEY_E, { title: 'First' }, { 'idempotency-key': replayKey });
      expect(replay.status).toBe(202);
      expect((await replay.json()).id).toBe(id);
      expect((await create(KEY_F)).status).toBe(202);

      // A moment that ends frees its slot.
      expect((await fetch(`${api.base}/v1/moments/${id}/cancel`, { method: 'POST', headers: { 'x-api-key': KEY_E } })).status).toBe(202);
      expect((await create(KEY_E)).status).toBe(202);
      expect(await inFlight(KEY_E)).toBe(2);
    });

    it('holds under concurrent creates: never more than the cap is accepted, and the refused leave nothing behind', async () => {
      const objects = (await loadConfigStorage().listKeys('moments/')).length;
      const answers = await Promise.all(Array.from({ length: 6 }, () => create(KEY_G)));
      const statuses = answers.map((answer) => answer.status).sort();
      expect(statuses).toEqual([202, 202, 429, 429, 429, 429]);
      for (const answer of answers.filter((candidate) => candidate.status === 429)) expect((await answer.json()).code).toBe('TOO_MANY_MOMENTS_IN_FLIGHT');
      expect(await inFlight(KEY_G)).toBe(2);
      expect((await loadConfigStorage().listKeys('moments/')).length).toBe(objects + 2);
    });

    it('does not cap anonymous deployments per key (the create rate limit still applies)', async () => {
      const anonymous = await start({ MAX_MOMENTS_IN_FLIGHT_PER_KEY: '1' });
      for (let i = 0; i < 3; i += 1) expect((await fetch(`${anonymous.base}/v1/moments`, { method: 'POST', body: form() })).status).toBe(202);
    });
  });

  describe('storage', () => {
    it('keeps objects private and presigned URLs expire after PRESIGN_TTL_SECONDS', async () => {
      const api = await start({ PRESIGN_TTL_SECONDS: '2' });
      // Every command the api sends to storage while it stores an upload: none asks for a public ACL.
      const send = vi.spyOn(S3Client.prototype, 'send');
      const created = await (await fetch(`${api.base}/v1/moments`, { method: 'POST', body: form() })).json();
      const commands = send.mock.calls.map(([command]) => command as unknown as { constructor: { name: string }; input: Record<string, unknown> });
      send.mockRestore();
      expect(commands.map((command) => command.constructor.name)).toContain('PutObjectCommand');
      for (const command of commands) expect(command.input).not.toHaveProperty('ACL');
      const moment = await (await fetch(`${api.base}/v1/moments/${created.id}`)).json();
      const url = new URL(moment.original_audio_url);
      expect(url.searchParams.get('X-Amz-Expires')).toBe('2');
      expect((await fetch(url)).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 3000));
      expect((await fetch(url)).status).toBe(403);
      // No URL is stored: a fresh read signs a fresh one.
      const again = await (await fetch(`${api.base}/v1/moments/${created.id}`)).json();
      expect((await fetch(again.original_audio_url)).status).toBe(200);
      const row = (await db.query('SELECT assets::text AS assets FROM moments WHERE id = $1', [created.id])).rows[0];
      expect(row.assets).not.toContain('X-Amz');
    });
  });

  describe('headers', () => {
    let api: Api;
    beforeAll(async () => {
      api = await start({ CORS_ORIGINS: 'https://app.example, https://studio.example' });
    });

    it('sends security headers and no X-Powered-By', async () => {
      const response = await fetch(`${api.base}/healthz`);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(response.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      expect(response.headers.get('content-security-policy')).toContain("default-src 'self'");
      expect(response.headers.get('x-powered-by')).toBeNull();
      const problem = await fetch(`${api.base}/v1/moments/${randomUUID()}`);
      expect(problem.headers.get('x-content-type-options')).toBe('nosniff');
      expect(problem.headers.get('cache-control')).toBe('no-store');
    });

    it('serves Swagger UI whose scripts and styles the CSP allows', async () => {
      const response = await fetch(`${api.base}/docs`);
      expect(response.status).toBe(200);
      const csp = Object.fromEntries(
        response.headers
          .get('content-security-policy')!
          .split(';')
          .map((directive) => directive.trim().split(/\s+/))
          .map(([name, ...sources]) => [name, sources]),
      );
      const html = await response.text();
      const scripts = [...html.matchAll(/<script([^>]*)>/g)].map((match) => /src="([^"]+)"/.exec(match[1])?.[1] ?? null);
      const styles = [...html.matchAll(/<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"/g)].map((match) => match[1]);
      expect(scripts.length).toBeGreaterThan(0);
      // Every script is loaded from this origin (no inline script: script-src has no 'unsafe-inline').
      expect(scripts).not.toContain(null);
      expect(csp['script-src']).toContain("'self'");
      expect(csp['style-src']).toEqual(expect.arrayContaining(["'self'", "'unsafe-inline'"]));
      for (const asset of [...(scripts as string[]), ...styles]) {
        const target = new URL(asset, response.url);
        expect(target.origin).toBe(api.base);
        expect((await fetch(target)).status, asset).toBe(200);
      }
    });

    it('answers CORS preflights for configured origins only', async () => {
      const preflight = (origin: string) =>
        fetch(`${api.base}/v1/moments`, {
          method: 'OPTIONS',
          headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-api-key,idempotency-key' },
        });
      const allowed = await preflight('https://studio.example');
      expect(allowed.status).toBe(204);
      expect(allowed.headers.get('access-control-allow-origin')).toBe('https://studio.example');
      expect(allowed.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('x-api-key');
      const refused = await preflight('https://evil.example');
      expect(refused.headers.get('access-control-allow-origin')).toBeNull();
      const simple = await fetch(`${api.base}/healthz`, { headers: { origin: 'https://evil.example' } });
      expect(simple.headers.get('access-control-allow-origin')).toBeNull();
    });
  });

  describe('secrets never reach logs or answers', () => {
    /** Levels pino writes; a line with another one was not written by the apps' logger. */
    const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

    it('masks tokens, keys and passwords in the JSON logs of api, worker and music-tools while errors of every kind are driven', { timeout: 180_000 }, async () => {
      const dbUrl = new URL(testEnv.config.DATABASE_URL);
      // Trust authentication ignores the password; it only has to be configured.
      dbUrl.username = 'postgres';
      dbUrl.password = secret('dbpassword');
      // ElevenLabs (a local stand-in) refuses the configured key: the worker's vocal stage fails.
      const elevenLabs = await startFakeElevenLabs(secret('another-elevenlabs-key'));
      const env = {
        ...testEnv.env,
        LOG_LEVEL: 'verbose',
        ADMIN_TOKEN,
        API_KEYS: `${KEY_A},${KEY_B}`,
        DATABASE_URL: dbUrl.toString(),
        MCP_AUTH_TOKEN: secret('mcp-token'),
        ELEVENLABS_API_KEY: secret('elevenlabs-key'),
        ELEVENLABS_BASE_URL: elevenLabs.baseUrl,
        // The stand-in listens on loopback, which outbound requests may reach only in tests.
        OUTBOUND_ALLOW_PRIVATE: 'true',
        S3_SECRET_ACCESS_KEY: S3_SECRET,
      };
      const secrets = secretValues(loadConfig(env));
      expect(secrets).toEqual(expect.arrayContaining([ADMIN_TOKEN, KEY_A, KEY_B, dbUrl.password, env.MCP_AUTH_TOKEN, env.ELEVENLABS_API_KEY, env.S3_SECRET_ACCESS_KEY]));

      const output: Array<{ app: string; line: string; stream: 'stdout' | 'stderr' }> = [];
      const answers: string[] = [];
      const record = async (response: Response) => {
        const headers: string[] = [];
        response.headers.forEach((value, name) => headers.push(`${name}: ${value}`));
        answers.push(...headers, await response.text());
        return response.status;
      };
      const statuses: number[] = [];
      // The apps as they are deployed, each its own process (`npm run build` first).
      const stack = await startStack({ env, workers: 1, log: (app, line, stream) => output.push({ app, line, stream }) });
      try {
        // Each app's process holds only the secrets it reads (music-tools' key for the api is the first of API_KEYS).
        const named = { ADMIN_TOKEN, KEY_A, KEY_B, DB_PASSWORD: dbUrl.password, MCP_AUTH_TOKEN: env.MCP_AUTH_TOKEN, ELEVENLABS_API_KEY: env.ELEVENLABS_API_KEY, S3_SECRET };
        const held = (app: string) => {
          const environment = readFileSync(`/proc/${stack.apps.find((running) => running.name === app)!.child.pid}/environ`, 'utf8');
          return Object.entries(named)
            .filter(([, value]) => environment.includes(value))
            .map(([name]) => name);
        };
        expect(held('api')).toEqual(['ADMIN_TOKEN', 'KEY_A', 'KEY_B', 'DB_PASSWORD', 'MCP_AUTH_TOKEN', 'ELEVENLABS_API_KEY', 'S3_SECRET']);
        expect(held('worker-1')).toEqual(['DB_PASSWORD', 'MCP_AUTH_TOKEN', 'ELEVENLABS_API_KEY', 'S3_SECRET']);
        expect(held('music-tools')).toEqual(['KEY_A', 'MCP_AUTH_TOKEN']);
        const send = async (path: string, init: RequestInit = {}) => statuses.push(await record(await fetch(`${stack.apiUrl}${path}`, init)));
        await send('/v1/admin/jobs', { headers: { authorization: 'Bearer wrong-admin-token' } });
        await send('/v1/admin/jobs', { headers: { authorization: `Bearer ${KEY_A}` } });
        await send('/v1/moments', { method: 'POST', body: form(), headers: { 'x-api-key': `${KEY_A}-wrong` } });
        await send(`/v1/moments/${randomUUID()}`, { headers: { 'x-api-key': KEY_A } });
        await send(`/v1/admin/jobs/${randomUUID()}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
        await send('/v1/admin/jobs?limit=abc', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
        await send('/readyz');
        const created = await fetch(`${stack.apiUrl}/v1/moments`, { method: 'POST', body: form(), headers: { 'x-api-key': KEY_A, 'idempotency-key': `idem-${KEY_B}` } });
        statuses.push(created.status);
        const { id } = (await created.json()) as { id: string };
        // The worker runs the moment until ElevenLabs refuses the key.
        let moment: { status: string; error: { code: string } | null } = { status: 'PENDING', error: null };
        for (const deadline = Date.now() + 90_000; !['FAILED', 'COMPLETED'].includes(moment.status) && Date.now() < deadline;) {
          await new Promise((settle) => setTimeout(settle, 200));
          moment = (await (await fetch(`${stack.apiUrl}/v1/moments/${id}`, { headers: { authorization: `Bearer ${KEY_A}` } })).json()) as typeof moment;
        }
        answers.push(JSON.stringify(moment));
        expect(moment).toMatchObject({ status: 'FAILED', error: { code: 'ELEVENLABS_UNAUTHORIZED' } });

        // music-tools: a caller with the wrong token, and a render whose stem is missing, named after a secret music-tools holds.
        const wrongToken = await new MusicToolsClient({ baseUrl: stack.mcpUrl, authToken: `${env.MCP_AUTH_TOKEN}-wrong` }).validateBlueprint(VALID_BLUEPRINT).catch((error: MusicToolsError) => error);
        expect(wrongToken).toMatchObject({ code: 'MCP_UNAUTHORIZED' });
        const storage = loadConfigStorage();
        const missing = await new MusicToolsClient({ baseUrl: stack.mcpUrl, authToken: env.MCP_AUTH_TOKEN })
          .synthesizePreview({
            blueprint: { ...VALID_BLUEPRINT, id: `theme-${env.MCP_AUTH_TOKEN}` },
            stems: { instrumental_url: await storage.presignGet(`moments/${randomUUID()}/stems/instrumental.wav`) },
            upload: { preview_url: await storage.presignPut('moments/x/preview.mp3', 'audio/mpeg'), master_url: await storage.presignPut('moments/x/master.wav', 'audio/wav') },
          })
          .catch((error: MusicToolsError) => error);
        expect(missing).toMatchObject({ code: 'STEM_DOWNLOAD_FAILED' });

        // A dependency that is down: 500, and readiness names it.
        await testEnv.stopStorage();
        try {
          await send('/v1/moments', { method: 'POST', body: form(), headers: { 'x-api-key': KEY_B } });
          await send('/readyz');
        } finally {
          await testEnv.startStorage();
        }
      } finally {
        // Stopped before the logs are read, so every line the apps wrote is in.
        await stack.stop();
        await elevenLabs.close();
      }

      expect(statuses).toEqual([401, 401, 401, 404, 404, 400, 200, 202, 500, 503]);
      const apps = ['api', 'worker-1', 'music-tools'];
      const records = new Map<string, Array<Record<string, unknown>>>();
      for (const app of apps) {
        const lines = output.filter((entry) => entry.app === app);
        // stdout carries the one line the stack waits for; everything else is a JSON log line on stderr.
        expect(lines.filter((entry) => entry.stream === 'stdout').map((entry) => entry.line)).toEqual([expect.stringMatching(/^(api listening on|worker ready|music-tools listening on) /)]);
        const logged = lines.filter((entry) => entry.stream === 'stderr').map((entry) => entry.line);
        expect(logged.length, `${app} logged nothing`).toBeGreaterThan(0);
        const parsed = logged.map((line) => {
          let value: unknown;
          expect(() => (value = JSON.parse(line)), `${app}: not JSON: ${line.slice(0, 120)}`).not.toThrow();
          expect(value, `${app}: ${line.slice(0, 120)}`).toMatchObject({ level: expect.toBeOneOf(LEVELS), msg: expect.any(String), name: app.replace(/-\d+$/, '') });
          return value as Record<string, unknown>;
        });
        records.set(app, parsed);
      }
      // The errors were logged, so the checks below are not vacuous.
      const api = records.get('api')!;
      expect(api.map((line) => line.msg)).toContain('POST /v1/moments 202');
      const headersOf = (line: Record<string, unknown>) => (line.req as { headers?: Record<string, string> } | undefined)?.headers ?? {};
      expect(api.some((line) => headersOf(line).authorization === '[Redacted]')).toBe(true);
      expect(api.some((line) => headersOf(line)['x-api-key'] === '[Redacted]' && headersOf(line)['idempotency-key'] === '[Redacted]')).toBe(true);
      expect(api.some((line) => line.level === 'error')).toBe(true);
      expect(records.get('worker-1')!.some((line) => line.level === 'warn' && String(line.msg).includes('ELEVENLABS_UNAUTHORIZED'))).toBe(true);
      expect(records.get('music-tools')!.some((line) => String(line.msg).includes('theme-*** failed: STEM_DOWNLOAD_FAILED'))).toBe(true);
      const logs = output.map((entry) => entry.line).join('\n');
      for (const value of secrets) {
        expect(logs.includes(value), `a secret in the logs: ${value.slice(0, 12)}…`).toBe(false);
        expect(answers.join('\n').includes(value), `a secret in an answer: ${value.slice(0, 12)}…`).toBe(false);
      }
    });
  });
});
