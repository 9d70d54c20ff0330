import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import busboy from 'busboy';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MomentFailedError, MomentTimeoutError, MomentsApiError, MomentsClient, type Moment } from '@main-character/sdk';
import { cannedMoment, sendJson, sendProblem, startFakeApi, type FakeApi, type FakeHandler, type RecordedRequest } from './fake-api';

interface ParsedMultipart {
  fields: Record<string, string>;
  files: Record<string, { filename: string | undefined; mimeType: string; data: Buffer }>;
  order: string[];
}

function parseMultipart(request: RecordedRequest): Promise<ParsedMultipart> {
  return new Promise((resolve, reject) => {
    const parsed: ParsedMultipart = { fields: {}, files: {}, order: [] };
    const parser = busboy({ headers: request.headers });
    parser.on('field', (name, value) => {
      parsed.fields[name] = value;
      parsed.order.push(name);
    });
    parser.on('file', (name, stream, info) => {
      const chunks: Buffer[] = [];
      parsed.order.push(name);
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => (parsed.files[name] = { filename: info.filename, mimeType: info.mimeType, data: Buffer.concat(chunks) }));
    });
    parser.on('close', () => resolve(parsed));
    parser.on('error', reject);
    Readable.from([request.body]).pipe(parser);
  });
}

const created = { job_id: 'job-1', id: 'job-1', status: 'PENDING', status_url: '/v1/moments/job-1' };

describe('MomentsClient', () => {
  let api: FakeApi;
  let handler: FakeHandler;
  let tmp: string;

  beforeEach(async () => {
    handler = (_req, res) => sendProblem(res, 404, 'MOMENT_NOT_FOUND', 'Not Found');
    api = await startFakeApi((req, res) => handler(req, res));
    tmp = await mkdtemp(path.join(tmpdir(), 'mcm-sdk-client-'));
  });

  afterEach(async () => {
    await api.close();
    await rm(tmp, { recursive: true, force: true });
  });

  describe('createMoment', () => {
    it('uploads the clip as multipart with its fields, Idempotency-Key and API key', async () => {
      handler = (_req, res) => sendJson(res, 202, created);
      const client = new MomentsClient({ baseUrl: `${api.baseUrl}/`, apiKey: 'key-123', headers: { 'X-Client': 'tests' } });
      const audio = Buffer.from('RIFF....WAVEfmt fake audio bytes');
      const blueprint = { id: 'bp', style: 'anthem', tempo_bpm: 100, key: 'C', sections: [{ name: 'intro', bars: 4 }], lyrics: 'la', voice: { voice_id: 'v' } };

      const result = await client.createMoment(audio, {
        filename: 'take.wav',
        style: 'anthem',
        title: 'Morning run',
        lyrics: 'here I go',
        outputKind: 'song',
        blueprint,
        idempotencyKey: 'idem-1',
      });

      expect(result).toEqual(created);
      const [request] = api.requests;
      expect(request.method).toBe('POST');
      expect(request.url).toBe('/v1/moments');
      expect(request.headers['idempotency-key']).toBe('idem-1');
      expect(request.headers['x-api-key']).toBe('key-123');
      expect(request.headers['x-client']).toBe('tests');
      expect(request.headers.authorization).toBeUndefined();
      expect(request.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
      const form = await parseMultipart(request);
      expect(form.fields).toEqual({ style: 'anthem', title: 'Morning run', lyrics: 'here I go', output_kind: 'song', blueprint_json: JSON.stringify(blueprint) });
      expect(form.files.file).toEqual({ filename: 'take.wav', mimeType: 'audio/wav', data: audio });
      expect(form.order.at(-1)).toBe('file');
    });

    it('reads a file path, naming the part after the file and sending only the given fields', async () => {
      handler = (_req, res) => sendJson(res, 202, created);
      const file = path.join(tmp, 'hum-phone.m4a');
      const bytes = Buffer.alloc(64 * 1024, 7);
      await writeFile(file, bytes);

      await new MomentsClient({ baseUrl: api.baseUrl }).createMoment(file);

      const [request] = api.requests;
      expect(request.headers['idempotency-key']).toBeUndefined();
      expect(request.headers['x-api-key']).toBeUndefined();
      const form = await parseMultipart(request);
      expect(form.fields).toEqual({});
      expect(form.files.file.filename).toBe('hum-phone.m4a');
      expect(form.files.file.mimeType).toBe('audio/mp4');
      expect(form.files.file.data.equals(bytes)).toBe(true);
    });

    it('accepts a Blob and keeps an explicit content type', async () => {
      handler = (_req, res) => sendJson(res, 202, created);
      await new MomentsClient({ baseUrl: api.baseUrl }).createMoment(new Blob([new Uint8Array([1, 2, 3])]), { contentType: 'audio/webm' });
      const form = await parseMultipart(api.requests[0]);
      expect(form.files.file).toEqual({ filename: 'audio', mimeType: 'audio/webm', data: Buffer.from([1, 2, 3]) });
    });

    it('maps a refused upload to MomentsApiError carrying the problem', async () => {
      handler = (_req, res) => sendProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported Media Type', 'The upload is not audio');
      const error = await new MomentsClient({ baseUrl: api.baseUrl }).createMoment(Buffer.from('not audio')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MomentsApiError);
      expect(error).toMatchObject({
        name: 'MomentsApiError',
        status: 415,
        code: 'UNSUPPORTED_MEDIA_TYPE',
        message: 'Unsupported Media Type: The upload is not audio',
        problem: { type: 'https://errors.main-character.dev/UNSUPPORTED_MEDIA_TYPE', title: 'Unsupported Media Type', status: 415, instance: '/v1/test' },
      });
    });
  });

  describe('getMoment and cancelMoment', () => {
    it('returns the parsed moment', async () => {
      const moment = cannedMoment({ status: 'RENDERING', stage: 'render_vocals', progress: 0.5 });
      handler = (req, res) => sendJson(res, 200, req.url === `/v1/moments/${moment.id}` ? moment : {});
      expect(await new MomentsClient({ baseUrl: api.baseUrl }).getMoment(moment.id)).toEqual(moment);
    });

    it('posts a cancel and returns the canceled moment', async () => {
      handler = (req, res) => sendJson(res, 202, cannedMoment({ id: 'm1', status: req.url === '/v1/moments/m1/cancel' ? 'CANCELED' : 'PENDING' }));
      const moment = await new MomentsClient({ baseUrl: api.baseUrl }).cancelMoment('m1');
      expect(api.requests[0].method).toBe('POST');
      expect(moment.status).toBe('CANCELED');
    });

    it('maps an unknown id to a 404 MomentsApiError', async () => {
      const error = await new MomentsClient({ baseUrl: api.baseUrl }).getMoment('nope').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MomentsApiError);
      expect(error).toMatchObject({ status: 404, code: 'MOMENT_NOT_FOUND' });
    });

    it('still gives a MomentsApiError when the body is not problem JSON', async () => {
      handler = (_req, res) => {
        res.writeHead(502, { 'content-type': 'text/html' });
        res.end('<html>bad gateway</html>');
      };
      const error = await new MomentsClient({ baseUrl: api.baseUrl, retry: false }).getMoment('x').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MomentsApiError);
      expect(error).toMatchObject({ status: 502, code: 'HTTP_502', problem: { type: 'about:blank', status: 502, detail: '<html>bad gateway</html>' } });
    });
  });

  describe('deleteMoment and deleteJob', () => {
    it('sends DELETE with the API key and resolves on 204', async () => {
      handler = (_req, res) => {
        res.writeHead(204);
        res.end();
      };
      await expect(new MomentsClient({ baseUrl: api.baseUrl, apiKey: 'key-123', adminToken: 'admin-secret' }).deleteMoment('m1')).resolves.toBeUndefined();
      expect(api.requests).toHaveLength(1);
      expect(api.requests[0]).toMatchObject({ method: 'DELETE', url: '/v1/moments/m1' });
      expect(api.requests[0].headers['x-api-key']).toBe('key-123');
      expect(api.requests[0].headers.authorization).toBeUndefined();
    });

    it('treats a moment already deleted (410 MOMENT_DELETED) as deleted, so a retried call resolves', async () => {
      handler = (_req, res) => sendProblem(res, 410, 'MOMENT_DELETED', 'Gone');
      await expect(new MomentsClient({ baseUrl: api.baseUrl }).deleteMoment('m1')).resolves.toBeUndefined();
    });

    it('rejects an unknown moment, or another 410, with MomentsApiError', async () => {
      const client = new MomentsClient({ baseUrl: api.baseUrl });
      await expect(client.deleteMoment('nope')).rejects.toMatchObject({ name: 'MomentsApiError', status: 404, code: 'MOMENT_NOT_FOUND' });
      handler = (_req, res) => sendProblem(res, 410, 'SOMETHING_ELSE', 'Gone');
      await expect(client.deleteMoment('m1')).rejects.toMatchObject({ status: 410, code: 'SOMETHING_ELSE' });
    });

    it('deletes any job as an operator with the bearer token', async () => {
      handler = (_req, res) => {
        res.writeHead(204);
        res.end();
      };
      await new MomentsClient({ baseUrl: api.baseUrl, adminToken: 'admin-secret' }).deleteJob('m2');
      expect(api.requests[0]).toMatchObject({ method: 'DELETE', url: '/v1/admin/jobs/m2' });
      expect(api.requests[0].headers.authorization).toBe('Bearer admin-secret');
    });
  });

  describe('waitForMoment', () => {
    function sequence(moments: Array<Record<string, unknown> | 'unavailable'>): FakeHandler {
      let i = 0;
      return (req, res) => {
        // An API without live events: waitForMoment polls.
        if (req.url.endsWith('/events')) return sendProblem(res, 404, 'NOT_FOUND', 'Not Found');
        const next = moments[Math.min(i++, moments.length - 1)];
        if (next === 'unavailable') sendProblem(res, 503, 'SERVICE_UNAVAILABLE', 'Service Unavailable');
        else sendJson(res, 200, cannedMoment(next));
      };
    }

    it('reports each change of status, stage or progress once and resolves on COMPLETED', async () => {
      handler = sequence([
        { status: 'PENDING' },
        { status: 'ANALYZING', stage: 'analyze', progress: 0.1 },
        { status: 'ANALYZING', stage: 'analyze', progress: 0.1 },
        'unavailable',
        { status: 'ANALYZING', stage: 'compose', progress: 0.2 },
        { status: 'RENDERING', stage: 'render_vocals', progress: 0.5 },
        { status: 'COMPLETED', stage: null, progress: 1, final_audio_url: 'http://storage.local/preview.mp3' },
      ]);
      const seen: Moment[] = [];
      const moment = await new MomentsClient({ baseUrl: api.baseUrl }).waitForMoment('m1', { intervalMs: 5, onProgress: (m) => seen.push(m) });

      expect(moment.status).toBe('COMPLETED');
      expect(moment.final_audio_url).toBe('http://storage.local/preview.mp3');
      expect(seen.map((m) => `${m.status}/${m.stage}/${m.progress}`)).toEqual(['PENDING/null/0', 'ANALYZING/analyze/0.1', 'ANALYZING/compose/0.2', 'RENDERING/render_vocals/0.5', 'COMPLETED/null/1']);
      expect(api.requests.filter((request) => !request.url.endsWith('/events'))).toHaveLength(7);
    });

    it('polls with If-None-Match and keeps the moment it holds when the API answers 304', async () => {
      const tagOf = (status: string) => `"tag-${status}"`;
      const answers = ['ANALYZING', 'ANALYZING', 'ANALYZING', 'COMPLETED'];
      let polls = 0;
      handler = (req, res) => {
        if (req.url.endsWith('/events')) return sendProblem(res, 404, 'NOT_FOUND', 'Not Found');
        const status = answers[Math.min(polls++, answers.length - 1)];
        if (req.headers['if-none-match'] === tagOf(status)) {
          res.writeHead(304, { etag: tagOf(status) }).end();
          return;
        }
        res.setHeader('etag', tagOf(status));
        sendJson(res, 200, cannedMoment({ status, stage: status === 'COMPLETED' ? null : 'analyze', progress: status === 'COMPLETED' ? 1 : 0.1 }));
      };
      const seen: Moment[] = [];
      const moment = await new MomentsClient({ baseUrl: api.baseUrl }).waitForMoment('m1', { intervalMs: 5, onProgress: (m) => seen.push(m) });

      expect(moment.status).toBe('COMPLETED');
      expect(seen.map((m) => m.status)).toEqual(['ANALYZING', 'COMPLETED']);
      const polled = api.requests.filter((request) => !request.url.endsWith('/events'));
      expect(polled.map((request) => request.headers['if-none-match'] ?? null)).toEqual([null, tagOf('ANALYZING'), tagOf('ANALYZING'), tagOf('ANALYZING')]);
    });

    it('rejects with MomentFailedError carrying the moment and its error on FAILED', async () => {
      const failure = { stage: 'render_vocals', code: 'AUDIO_ENGINE_FAILED', message: 'synth crashed', retryable: true };
      handler = sequence([
        { status: 'RENDERING', stage: 'render_vocals', progress: 0.4 },
        { status: 'FAILED', stage: 'render_vocals', error: failure },
      ]);
      const error = await new MomentsClient({ baseUrl: api.baseUrl }).waitForMoment('m1', { intervalMs: 5 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MomentFailedError);
      expect(error).toMatchObject({ name: 'MomentFailedError', status: 'FAILED', error: failure, moment: { status: 'FAILED' } });
      expect((error as Error).message).toContain('AUDIO_ENGINE_FAILED');
    });

    it('rejects with MomentFailedError on CANCELED', async () => {
      handler = sequence([{ status: 'CANCELED' }]);
      const error = await new MomentsClient({ baseUrl: api.baseUrl }).waitForMoment('m1').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MomentFailedError);
      expect(error).toMatchObject({ status: 'CANCELED', error: null });
    });

    it('rejects with MomentTimeoutError holding the last moment seen', async () => {
      handler = sequence([{ status: 'MIXING', stage: 'mix', progress: 0.9 }]);
      const started = Date.now();
      const error = await new MomentsClient({ baseUrl: api.baseUrl }).waitForMoment('m1', { timeoutMs: 150, intervalMs: 20 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MomentTimeoutError);
      expect(error).toMatchObject({ name: 'MomentTimeoutError', momentId: 'm1', timeoutMs: 150, moment: { status: 'MIXING' } });
      expect(Date.now() - started).toBeLessThan(1_000);
    });

    it('keeps to its timeout while a poll waits out a long Retry-After', async () => {
      let polls = 0;
      handler = (req, res) => {
        if (req.url.endsWith('/events')) return sendProblem(res, 404, 'NOT_FOUND', 'Not Found');
        if (polls++ === 0) return sendJson(res, 200, cannedMoment({ status: 'MIXING', stage: 'mix', progress: 0.9 }));
        res.setHeader('Retry-After', '60');
        sendProblem(res, 503, 'SERVICE_UNAVAILABLE', 'Service Unavailable');
      };
      const client = new MomentsClient({ baseUrl: api.baseUrl, retry: { maxAttempts: 5, baseDelayMs: 5, maxDelayMs: 120_000 } });
      const error = await client.waitForMoment('m1', { timeoutMs: 200, intervalMs: 5 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MomentTimeoutError);
      expect(error).toMatchObject({ momentId: 'm1', timeoutMs: 200, moment: { status: 'MIXING' } });
      // The retry the 503 asked for, a minute later, is never sent.
      expect(polls).toBe(2);
    });

    it('stops when the signal aborts', async () => {
      handler = sequence([{ status: 'PENDING' }]);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const error = await new MomentsClient({ baseUrl: api.baseUrl }).waitForMoment('m1', { intervalMs: 10, signal: controller.signal }).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'AbortError' });
    });

    it('does not retry a client error while polling', async () => {
      const error = await new MomentsClient({ baseUrl: api.baseUrl }).waitForMoment('gone', { intervalMs: 5 }).catch((e: unknown) => e);
      expect(error).toMatchObject({ status: 404 });
      expect(api.requests.map((request) => request.url)).toEqual(['/v1/moments/gone/events', '/v1/moments/gone']);
    });
  });

  describe('live events of a retried moment', () => {
    /** Answers the event stream with `events` (name and moment fields) and ends it, as the API does once the newest is terminal. */
    function stream(events: Array<[string, Record<string, unknown>]>): FakeHandler {
      return (req, res) => {
        if (!req.url.endsWith('/events')) return sendJson(res, 200, cannedMoment(events.at(-1)![1]));
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        events.forEach(([name, fields], i) => res.write(`id: ${i + 1}\nevent: ${name}\ndata: ${JSON.stringify(cannedMoment(fields))}\n\n`));
        res.end();
      };
    }
    const failedThenRetried: Array<[string, Record<string, unknown>]> = [
      ['moment.status', { status: 'PENDING' }],
      ['moment.failed', { status: 'FAILED', stage: 'analyze' }],
      ['moment.status', { status: 'ANALYZING', stage: 'analyze', progress: 0.1 }],
      ['moment.completed', { status: 'COMPLETED', progress: 1 }],
    ];

    it('waitForMoment follows a moment past a FAILED it was retried from, to COMPLETED', async () => {
      handler = stream(failedThenRetried);
      const seen: string[] = [];
      const moment = await new MomentsClient({ baseUrl: api.baseUrl }).waitForMoment('m1', { onProgress: (m) => seen.push(m.status) });
      expect(moment.status).toBe('COMPLETED');
      expect(seen).toEqual(['PENDING', 'FAILED', 'ANALYZING', 'COMPLETED']);
    });

    it('streamMoment yields the whole history and ends after the last event', async () => {
      handler = stream(failedThenRetried);
      const events = [];
      for await (const event of new MomentsClient({ baseUrl: api.baseUrl }).streamMoment('m1')) events.push(`${event.id} ${event.type}`);
      expect(events).toEqual(['1 moment.status', '2 moment.failed', '3 moment.status', '4 moment.completed']);
    });

    it('a FAILED that ends the stream still rejects waitForMoment with MomentFailedError', async () => {
      handler = stream([
        ['moment.status', { status: 'PENDING' }],
        ['moment.failed', { status: 'FAILED', stage: 'analyze', error: { stage: 'analyze', code: 'AUDIO_UNDECODABLE', message: 'x', retryable: false } }],
      ]);
      const error = await new MomentsClient({ baseUrl: api.baseUrl }).waitForMoment('m1').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MomentFailedError);
      expect(error).toMatchObject({ status: 'FAILED', error: { code: 'AUDIO_UNDECODABLE' } });
      expect(api.requests.filter((r) => !r.url.endsWith('/events'))).toHaveLength(0);
    });
  });

  describe('admin', () => {
    it('lists jobs with the bearer token and a status filter', async () => {
      const page = { items: [cannedMoment({ status: 'FAILED' })], next_cursor: 'c2' };
      handler = (_req, res) => sendJson(res, 200, page);
      const client = new MomentsClient({ baseUrl: api.baseUrl, apiKey: 'key-123', adminToken: 'admin-secret' });

      expect(await client.listJobs({ status: ['FAILED', 'CANCELED'], limit: 10, cursor: 'c1' })).toEqual(page);
      const url = new URL(api.requests[0].url, api.baseUrl);
      expect(url.pathname).toBe('/v1/admin/jobs');
      expect(url.searchParams.getAll('status')).toEqual(['FAILED', 'CANCELED']);
      expect(url.searchParams.get('limit')).toBe('10');
      expect(url.searchParams.get('cursor')).toBe('c1');
      expect(api.requests[0].headers.authorization).toBe('Bearer admin-secret');

      await client.listJobs({ status: 'FAILED, CANCELED' });
      expect(new URL(api.requests[1].url, api.baseUrl).searchParams.getAll('status')).toEqual(['FAILED', 'CANCELED']);
      await client.listJobs({ status: [] });
      expect(api.requests[2].url).toBe('/v1/admin/jobs');

      await client.getMoment('m1').catch(() => undefined);
      expect(api.requests[3].headers.authorization).toBeUndefined();
    });

    it('gets and retries one job', async () => {
      handler = (req, res) => sendJson(res, req.method === 'POST' ? 202 : 200, cannedMoment({ id: 'm1', status: req.method === 'POST' ? 'RENDERING' : 'FAILED' }));
      const client = new MomentsClient({ baseUrl: api.baseUrl, adminToken: 'admin-secret' });
      expect((await client.getJob('m1')).status).toBe('FAILED');
      expect((await client.retryJob('m1')).status).toBe('RENDERING');
      expect(api.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /v1/admin/jobs/m1', 'POST /v1/admin/jobs/m1/retry']);
    });

    it('bulk-retries failed jobs with a JSON filter', async () => {
      handler = (_req, res) => sendJson(res, 202, { retried: ['a', 'b'], count: 2 });
      const client = new MomentsClient({ baseUrl: api.baseUrl, adminToken: 'admin-secret' });
      expect(await client.retryFailedJobs({ stage: 'mix' })).toEqual({ retried: ['a', 'b'], count: 2 });
      expect(api.requests[0].headers['content-type']).toBe('application/json');
      expect(JSON.parse(api.requests[0].body.toString())).toEqual({ stage: 'mix' });
    });

    it('reports a missing or wrong token as a 401 MomentsApiError', async () => {
      handler = (_req, res) => sendProblem(res, 401, 'UNAUTHORIZED', 'Unauthorized');
      const error = await new MomentsClient({ baseUrl: api.baseUrl }).listJobs().catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'MomentsApiError', status: 401, code: 'UNAUTHORIZED' });
    });
  });

  describe('download', () => {
    it('fetches a presigned URL without API credentials and writes the file', async () => {
      const audio = Buffer.from('ID3 fake mp3 bytes');
      handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'audio/mpeg' });
        res.end(audio);
      };
      const client = new MomentsClient({ baseUrl: api.baseUrl, apiKey: 'key-123', adminToken: 'admin-secret' });
      const target = path.join(tmp, 'preview.mp3');

      const bytes = await client.download(`${api.baseUrl}/bucket/preview.mp3?X-Amz-Signature=abc`, target);

      expect(Buffer.isBuffer(bytes)).toBe(true);
      expect(bytes.equals(audio)).toBe(true);
      expect((await readFile(target)).equals(audio)).toBe(true);
      expect(api.requests[0].url).toBe('/bucket/preview.mp3?X-Amz-Signature=abc');
      expect(api.requests[0].headers['x-api-key']).toBeUndefined();
      expect(api.requests[0].headers.authorization).toBeUndefined();
    });

    it('rejects an expired or missing object with MomentsApiError', async () => {
      handler = (_req, res) => {
        res.writeHead(403, { 'content-type': 'application/xml' });
        res.end('<Error><Code>AccessDenied</Code></Error>');
      };
      const error = await new MomentsClient({ baseUrl: api.baseUrl }).download(`${api.baseUrl}/bucket/x.mp3`).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'MomentsApiError', status: 403, code: 'HTTP_403' });
    });
  });

  it('uses the fetch it is given', async () => {
    const calls: string[] = [];
    const client = new MomentsClient({
      baseUrl: 'http://example.invalid',
      fetch: async (input) => {
        calls.push(input instanceof Request ? input.url : String(input));
        return new Response(JSON.stringify(cannedMoment({ id: 'm9' })), { headers: { 'content-type': 'application/json' } });
      },
    });
    expect((await client.getMoment('m9')).id).toBe('m9');
    expect(calls).toEqual(['http://example.invalid/v1/moments/m9']);
  });
});
