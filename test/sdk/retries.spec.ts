import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MomentsApiError, MomentsClient } from '@main-character/sdk';
import { retryDelay, retryPolicy } from '../../libs/sdk/src/retry';
import { cannedMoment, sendJson, sendProblem, startFakeApi, type FakeApi, type FakeHandler } from './fake-api';

const created = { job_id: 'm1', id: 'm1', status: 'PENDING', status_url: '/v1/moments/m1' };
const FAST = { baseDelayMs: 5, maxDelayMs: 5_000 };

/** Answers each request with the next of `answers` (the last one repeats); a number is a problem with that status. */
function scripted(answers: Array<number | { status: number; retryAfter?: string } | ((res: Parameters<FakeHandler>[1]) => void)>): FakeHandler {
  let i = 0;
  return (_req, res) => {
    const next = answers[Math.min(i++, answers.length - 1)];
    if (typeof next === 'function') return next(res);
    const { status, retryAfter } = typeof next === 'number' ? { status: next, retryAfter: undefined } : next;
    if (retryAfter !== undefined) res.setHeader('Retry-After', retryAfter);
    sendProblem(res, status, `HTTP_${status}`, 'Try later');
  };
}

describe('retries of safe calls', () => {
  let api: FakeApi;
  let handler: FakeHandler;
  const arrivals: number[] = [];

  beforeEach(async () => {
    arrivals.length = 0;
    api = await startFakeApi((req, res) => {
      arrivals.push(performance.now());
      return handler(req, res);
    });
  });

  afterEach(() => api.close());

  it('waits out a 429 for as long as Retry-After says, then succeeds', async () => {
    handler = scripted([{ status: 429, retryAfter: '1' }, (res) => sendJson(res, 200, cannedMoment({ id: 'm1' }))]);
    const moment = await new MomentsClient({ baseUrl: api.baseUrl, retry: FAST }).getMoment('m1');
    expect(moment.id).toBe('m1');
    expect(api.requests).toHaveLength(2);
    // The backoff alone would have waited at most 5 ms.
    expect(arrivals[1] - arrivals[0]).toBeGreaterThanOrEqual(950);
  });

  it('retries 503s with Retry-After and network failures, up to maxAttempts, and reports the last refusal', async () => {
    handler = scripted([{ status: 503, retryAfter: '0' }]);
    const error = await new MomentsClient({ baseUrl: api.baseUrl, retry: { ...FAST, maxAttempts: 3 } }).getMoment('m1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MomentsApiError);
    expect(error).toMatchObject({ status: 503, retryAfterMs: 0 });
    expect(api.requests).toHaveLength(3);

    let calls = 0;
    const flaky = new MomentsClient({
      baseUrl: 'http://api.invalid',
      retry: FAST,
      fetch: async () => {
        if (++calls < 3) throw new TypeError('fetch failed');
        return Response.json(cannedMoment({ id: 'm2' }));
      },
    });
    expect((await flaky.getMoment('m2')).id).toBe('m2');
    expect(calls).toBe(3);
  });

  it('retries deletes, admin reads and downloads, but not a client error', async () => {
    const client = new MomentsClient({ baseUrl: api.baseUrl, adminToken: 'admin-secret', retry: FAST });
    handler = scripted([502, (res) => res.writeHead(204).end()]);
    await client.deleteMoment('m1');
    handler = scripted([504, (res) => sendJson(res, 200, { items: [], next_cursor: null })]);
    await client.listJobs({ status: ['FAILED'] });
    handler = scripted([500, (res) => res.writeHead(200, { 'content-type': 'audio/mpeg' }).end('ID3 bytes')]);
    expect(Buffer.from(await client.download(`${api.baseUrl}/bucket/preview.mp3`)).toString()).toBe('ID3 bytes');
    expect(api.requests.map((r) => r.method)).toEqual(['DELETE', 'DELETE', 'GET', 'GET', 'GET', 'GET']);

    handler = scripted([404]);
    await expect(client.getMoment('nope')).rejects.toMatchObject({ status: 404 });
    expect(api.requests).toHaveLength(7);
  });

  it('does not wait longer than maxDelayMs: a longer Retry-After is reported instead', async () => {
    handler = scripted([{ status: 429, retryAfter: '120' }]);
    const error = await new MomentsClient({ baseUrl: api.baseUrl, retry: FAST }).getMoment('m1').catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 429, retryAfterMs: 120_000 });
    expect(api.requests).toHaveLength(1);
  });

  it('never retries a create without an idempotency key', async () => {
    handler = scripted([503, (res) => sendJson(res, 202, created)]);
    const error = await new MomentsClient({ baseUrl: api.baseUrl, retry: FAST }).createMoment(Buffer.from('clip'), { filename: 'a.wav' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 503 });
    expect(api.requests).toHaveLength(1);
  });

  it('retries a create that carries an idempotency key, sending the same key and the whole upload again', async () => {
    handler = scripted([{ status: 429, retryAfter: '0' }, 503, (res) => sendJson(res, 202, created)]);
    const clip = Buffer.alloc(32 * 1024, 9);
    const result = await new MomentsClient({ baseUrl: api.baseUrl, retry: FAST }).createMoment(clip, { filename: 'a.wav', idempotencyKey: 'idem-7' });
    expect(result).toEqual(created);
    expect(api.requests).toHaveLength(3);
    expect(api.requests.map((r) => r.headers['idempotency-key'])).toEqual(['idem-7', 'idem-7', 'idem-7']);
    for (const request of api.requests) {
      expect(request.body.length).toBe(api.requests[0].body.length);
      expect(request.body.includes(clip)).toBe(true);
    }
  });

  it('stops at once when the signal aborts during a backoff wait', async () => {
    handler = scripted([{ status: 503, retryAfter: '30' }]);
    const controller = new AbortController();
    const client = new MomentsClient({ baseUrl: api.baseUrl, retry: { maxDelayMs: 60_000 } });
    const pending = client.getMoment('m1', { signal: controller.signal }).catch((e: unknown) => e);
    while (api.requests.length === 0) await new Promise((settle) => setTimeout(settle, 5));
    const abortedAt = performance.now();
    controller.abort();
    const error = await pending;
    expect(error).toMatchObject({ name: 'AbortError' });
    expect(performance.now() - abortedAt).toBeLessThan(1_000);
    expect(api.requests).toHaveLength(1);
    await expect(client.getMoment('m1', { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(api.requests).toHaveLength(1);
  });

  it('backs off exponentially with full jitter, capped by maxDelayMs', () => {
    const policy = retryPolicy({ baseDelayMs: 100, maxDelayMs: 1_000 });
    const samples = (attempts: number) => Array.from({ length: 400 }, () => retryDelay(policy, attempts, new TypeError('fetch failed'))!);
    for (const [attempts, cap] of [
      [1, 100],
      [2, 200],
      [3, 400],
      [5, 1_000],
      [9, 1_000],
    ]) {
      const delays = samples(attempts);
      expect(Math.max(...delays)).toBeLessThanOrEqual(cap);
      // Full jitter spreads the waits over the whole range rather than clustering at the cap.
      expect(Math.min(...delays)).toBeLessThan(cap * 0.1);
      expect(Math.max(...delays)).toBeGreaterThan(cap * 0.9);
    }
    expect(retryPolicy(false).maxAttempts).toBe(1);
  });
});

describe('run', () => {
  let api: FakeApi;

  afterEach(() => api.close());

  it('creates with an idempotency key, retries the create, waits, and returns the preview bytes', async () => {
    const preview = Buffer.from('ID3 the whole preview');
    let creates = 0;
    api = await startFakeApi((req, res) => {
      if (req.method === 'POST' && req.url === '/v1/moments') return ++creates === 1 ? sendProblem(res, 503, 'SERVICE_UNAVAILABLE', 'Busy') : sendJson(res, 202, created);
      if (req.url === '/v1/moments/m1/events') return sendProblem(res, 404, 'NOT_FOUND', 'Not Found');
      if (req.url === '/v1/moments/m1') {
        const polls = api.requests.filter((r) => r.url === '/v1/moments/m1').length;
        const done = { status: 'COMPLETED', progress: 1, assets: { preview: `${api.baseUrl}/bucket/preview.mp3?sig=1` }, final_audio_url: `${api.baseUrl}/bucket/preview.mp3?sig=1` };
        return sendJson(res, 200, cannedMoment({ id: 'm1', ...(polls < 2 ? { status: 'MIXING', stage: 'mix', progress: 0.9 } : done) }));
      }
      if (req.url.startsWith('/bucket/preview.mp3')) {
        res.writeHead(200, { 'content-type': 'audio/mpeg' }).end(preview);
        return;
      }
      sendProblem(res, 404, 'NOT_FOUND', 'Not Found');
    });
    const statuses: string[] = [];
    const result = await new MomentsClient({ baseUrl: api.baseUrl, retry: FAST }).run(Buffer.from('clip'), {
      filename: 'a.wav',
      style: 'lofi',
      intervalMs: 5,
      onProgress: (m) => statuses.push(m.status),
    });

    expect(Buffer.from(result.preview).equals(preview)).toBe(true);
    expect(result.moment.status).toBe('COMPLETED');
    expect(statuses).toEqual(['MIXING', 'COMPLETED']);
    const posts = api.requests.filter((r) => r.method === 'POST');
    expect(posts).toHaveLength(2);
    expect(posts[0].headers['idempotency-key']).toMatch(/^[\x21-\x7e]{16,255}$/);
    expect(posts[1].headers['idempotency-key']).toBe(posts[0].headers['idempotency-key']);
  });

  it('rejects with the signal’s reason when aborted while waiting', async () => {
    api = await startFakeApi((req, res) => {
      if (req.method === 'POST') return sendJson(res, 202, created);
      if (req.url.endsWith('/events')) return sendProblem(res, 404, 'NOT_FOUND', 'Not Found');
      sendJson(res, 200, cannedMoment({ id: 'm1', status: 'RENDERING' }));
    });
    const controller = new AbortController();
    const pending = new MomentsClient({ baseUrl: api.baseUrl }).run(Buffer.from('clip'), { intervalMs: 5, signal: controller.signal }).catch((e: unknown) => e);
    while (!api.requests.some((r) => r.url === '/v1/moments/m1')) await new Promise((settle) => setTimeout(settle, 5));
    controller.abort(new Error('user gave up'));
    expect(await pending).toMatchObject({ message: 'user gave up' });
  });
});
