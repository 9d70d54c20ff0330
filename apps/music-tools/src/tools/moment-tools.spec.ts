import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult, Progress } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ffmpegPath, STYLE_NAMES, STYLE_TEMPO } from '@mcm/audio';
import { storageKey } from '@mcm/pipeline';
import { cannedMoment, sendJson, sendProblem, startFakeApi, type FakeApi, type RecordedRequest } from '../../../../test/sdk/fake-api';
import { freePort } from '../../../../test/support/free-port';
import { connectMcp, startTestStorage, type TestStorage } from '../../test/fixtures';
import { startMusicToolsHttp, type MusicToolsHttp } from '../http';
import { MomentsApi, type MomentsApiOptions } from '../moments-api';

const FIXTURE = path.resolve(__dirname, '../../../../test/fixtures/hum-phone.m4a');
const MOMENT_ID = '5f0c7a8e-2a4b-4c1d-9e8f-0123456789ab';
const API_KEY = 'agent-client-key-0123456789';

/** The stages a moment announces on its way to COMPLETED, as the api's live events carry them. */
const JOURNEY = [
  { status: 'ANALYZING', stage: 'analyze', progress: 0.1 },
  { status: 'ANALYZING', stage: 'compose', progress: 0.25 },
  { status: 'RENDERING', stage: 'render_vocals', progress: 0.5 },
  { status: 'MIXING', stage: 'mix', progress: 0.85 },
];

type Api = { moment: Record<string, unknown>; events: 'complete' | 'fail' | 'hang' };

function sendEvents(response: ServerResponse, events: Array<{ type: string; moment: Record<string, unknown> }>, end: boolean): void {
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  events.forEach((event, index) => response.write(`id: ${index + 1}\nevent: ${event.type}\ndata: ${JSON.stringify(event.moment)}\n\n`));
  if (end) response.end();
}

/** The api's routes the agent tools use, answering from `state`. */
function apiHandler(state: Api, previewUrl: () => string) {
  return async (request: RecordedRequest, response: ServerResponse) => {
    if (request.headers['x-api-key'] !== API_KEY) return sendProblem(response, 401, 'API_KEY_REQUIRED', 'An API key is required');
    const url = new URL(request.url, 'http://api.local');
    if (request.method === 'POST' && url.pathname === '/v1/moments') {
      return sendJson(response, 202, { job_id: MOMENT_ID, id: MOMENT_ID, status: 'PENDING', status_url: `/v1/moments/${MOMENT_ID}` });
    }
    if (url.pathname === `/v1/moments/${MOMENT_ID}`) return sendJson(response, 200, state.moment);
    if (url.pathname === `/v1/moments/${MOMENT_ID}/events`) {
      const steps = JOURNEY.map((step) => ({ type: 'moment.progress', moment: cannedMoment({ ...step }) }));
      if (state.events === 'hang') return sendEvents(response, steps.slice(0, 3), false);
      if (state.events === 'fail') {
        const error = { stage: 'analyze', code: 'AUDIO_TOO_QUIET', message: 'The recording is too quiet to hear a melody.', retryable: false };
        return sendEvents(response, [...steps.slice(0, 1), { type: 'moment.failed', moment: cannedMoment({ status: 'FAILED', stage: 'analyze', error }) }], true);
      }
      const preview = previewUrl();
      const done = cannedMoment({ status: 'COMPLETED', stage: null, progress: 1, final_audio_url: preview, assets: { original: preview, preview, master: null } });
      return sendEvents(response, [...steps, { type: 'moment.completed', moment: done }], true);
    }
    return sendProblem(response, 404, 'MOMENT_NOT_FOUND', 'No such moment');
  };
}

/** The multipart form the api received, as the api parses it. */
function formOf(request: RecordedRequest): Promise<FormData> {
  return new Response(new Uint8Array(request.body), { headers: { 'content-type': request.headers['content-type']! } }).formData();
}

describe('the agent tools, against an api', () => {
  let api: FakeApi;
  let storage: TestStorage;
  let mp3: Buffer;
  let previewUrl: string;
  const state: Api = { moment: cannedMoment({ id: MOMENT_ID }), events: 'complete' };
  const servers: MusicToolsHttp[] = [];
  const clients: Client[] = [];
  let client: Client;

  /** music-tools with its agent tools pointed at `overrides` (the fake api and the test storage by default). */
  async function musicTools(overrides: Partial<MomentsApiOptions> | null = {}): Promise<Client> {
    const moments = overrides && new MomentsApi({ baseUrl: api.baseUrl, apiKey: API_KEY, maxUploadBytes: 25 * 1024 * 1024, storage: storage.location, ...overrides });
    const server = await startMusicToolsHttp({ port: 0, moments: moments ?? undefined });
    servers.push(server);
    const connected = await connectMcp(server.url);
    clients.push(connected);
    return connected;
  }

  const call = (target: Client, name: string, args: Record<string, unknown>) => target.callTool({ name, arguments: args }) as Promise<CallToolResult>;
  const creates = () => api.requests.filter((request) => request.method === 'POST');

  beforeAll(async () => {
    storage = await startTestStorage();
    mp3 = (
      await promisify(execFile)(ffmpegPath(), ['-hide_banner', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=2', '-c:a', 'libmp3lame', '-f', 'mp3', 'pipe:1'], {
        encoding: 'buffer',
        maxBuffer: 1 << 24,
      })
    ).stdout;
    const key = storageKey(MOMENT_ID, 'preview.mp3');
    await storage.put(key, mp3, 'audio/mpeg');
    previewUrl = await storage.presignGet(key);
    api = await startFakeApi(apiHandler(state, () => previewUrl));
    client = await musicTools();
  });

  afterEach(() => {
    state.moment = cannedMoment({ id: MOMENT_ID });
    state.events = 'complete';
  });

  afterAll(async () => {
    await Promise.all(clients.map((each) => each.close()));
    await Promise.all(servers.map((server) => server.close()));
    await api?.close();
    await storage?.close();
  });

  it('lists the four styles of the engine, each with a description and its home tempo', async () => {
    const result = await call(client, 'list_styles', {});
    const { styles } = result.structuredContent as { styles: { name: string; description: string; tempo_bpm: number }[] };
    expect(styles.map((style) => style.name)).toEqual([...STYLE_NAMES]);
    for (const style of styles) {
      expect(style.tempo_bpm).toBe(STYLE_TEMPO[style.name as keyof typeof STYLE_TEMPO]);
      expect(style.description.length).toBeGreaterThan(20);
    }
    expect((result.content[0] as { text: string }).text.split('\n')).toHaveLength(4);
  });

  it('uploads the decoded recording with its fields and the client key, and answers with the moment', async () => {
    const audio = await readFile(FIXTURE);
    const before = creates().length;
    const result = await call(client, 'create_moment', { audio_base64: audio.toString('base64'), filename: 'hum.m4a', style: 'lofi', title: 'Morning run' });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ ok: true, id: MOMENT_ID, status: 'PENDING', status_url: `${api.baseUrl}/v1/moments/${MOMENT_ID}` });
    expect((result.structuredContent as { links: Record<string, unknown> }).links.original).toBe('http://storage.local/original.m4a?sig=1');

    const [sent] = creates().slice(before);
    expect(sent.headers['x-api-key']).toBe(API_KEY);
    const form = await formOf(sent);
    const file = form.get('file') as File;
    expect(file.name).toBe('hum.m4a');
    expect(Buffer.from(await file.arrayBuffer()).equals(audio)).toBe(true);
    expect({ style: form.get('style'), title: form.get('title'), lyrics: form.get('lyrics') }).toEqual({ style: 'lofi', title: 'Morning run', lyrics: null });
  });

  it('takes a data: URL of base64 as the recording too', async () => {
    const audio = await readFile(FIXTURE);
    const before = creates().length;
    const result = await call(client, 'create_moment', { audio_base64: `data:audio/mp4;base64,${audio.toString('base64')}` });
    expect(result.isError).toBeFalsy();
    const form = await formOf(creates()[before]);
    expect(Buffer.from(await (form.get('file') as File).arrayBuffer()).equals(audio)).toBe(true);
  });

  it('refuses a URL, a path or broken base64 as the recording before anything reaches the api', async () => {
    const before = api.requests.length;
    for (const audio_base64 of ['https://example.com/hum.m4a', '/tmp/hum.m4a', 'AAAA#AAA', 'AAAAA']) {
      const result = await call(client, 'create_moment', { audio_base64 });
      expect(result.isError).toBe(true);
      expect(result.structuredContent).toMatchObject({ ok: false, code: 'INVALID_AUDIO_BASE64', retryable: false });
      expect((result.content[0] as { text: string }).text).toContain('not base64');
    }
    expect(api.requests.length).toBe(before);
  });

  it('takes a recording of several megabytes over HTTP, as large as the api allows', async () => {
    const large = randomBytes(6 * 1024 * 1024);
    const before = creates().length;
    const result = await call(client, 'create_moment', { audio_base64: large.toString('base64'), filename: 'long.wav' });
    expect(result.isError).toBeFalsy();
    const form = await formOf(creates()[before]);
    expect(Buffer.from(await (form.get('file') as File).arrayBuffer()).equals(large)).toBe(true);
  });

  it('refuses a recording larger than the api takes before sending it', async () => {
    const small = await musicTools({ maxUploadBytes: 50_000 });
    const before = api.requests.length;
    const result = await call(small, 'create_moment', { audio_base64: (await readFile(FIXTURE)).toString('base64') });
    expect(result.structuredContent).toMatchObject({ ok: false, code: 'UPLOAD_TOO_LARGE', retryable: false });
    expect((result.content[0] as { text: string }).text).toContain('101964 bytes');
    expect(api.requests.length).toBe(before);
  });

  it("reads a moment, and answers an unknown one with the api's code", async () => {
    state.moment = cannedMoment({ status: 'RENDERING', stage: 'render_vocals', progress: 0.5 });
    const found = await call(client, 'get_moment', { id: MOMENT_ID });
    expect(found.structuredContent).toMatchObject({ ok: true, id: MOMENT_ID, status: 'RENDERING', stage: 'render_vocals', progress: 0.5 });
    expect((found.content[0] as { text: string }).text).toBe(`Moment ${MOMENT_ID} is RENDERING (50%, stage render_vocals)`);

    const missing = await call(client, 'get_moment', { id: '00000000-0000-4000-8000-000000000000' });
    expect(missing.isError).toBe(true);
    expect(missing.structuredContent).toMatchObject({ ok: false, code: 'MOMENT_NOT_FOUND', retryable: false });
  });

  it('sends a progress notification per stage when asked, then returns the preview as audio with the presigned URLs', async () => {
    const progress: Progress[] = [];
    const result = (await client.callTool({ name: 'wait_for_moment', arguments: { id: MOMENT_ID, timeout_s: 20 } }, undefined, {
      onprogress: (update) => progress.push(update),
    })) as CallToolResult;
    expect(result.isError).toBeFalsy();
    expect(progress.map((update) => update.message)).toEqual([...JOURNEY.map((step) => step.stage), 'COMPLETED']);
    expect(progress.map((update) => update.progress)).toEqual([...JOURNEY.map((step) => step.progress), 1]);
    expect(progress.every((update) => update.total === 1)).toBe(true);

    const audio = result.content.find((part) => part.type === 'audio') as { data: string; mimeType: string };
    expect(audio.mimeType).toBe('audio/mpeg');
    expect(Buffer.from(audio.data, 'base64').equals(mp3)).toBe(true);
    expect(result.structuredContent).toMatchObject({ ok: true, status: 'COMPLETED', timed_out: false, preview: { mime_type: 'audio/mpeg', bytes: mp3.length }, links: { preview: previewUrl } });
    // The only outbound request besides the api: the preview, from the configured storage.
    expect(storage.requests.filter((request) => request.startsWith('GET'))).toContain(`GET /${storage.bucket}/${storageKey(MOMENT_ID, 'preview.mp3')}`);
  });

  it('sends no notifications when the caller gave no progress token', async () => {
    const server = servers[0];
    /** The SSE messages music-tools answers one raw tools/call with. */
    const messages = async (meta?: Record<string, unknown>) => {
      const response = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'wait_for_moment', arguments: { id: MOMENT_ID }, ...(meta && { _meta: meta }) } }),
      });
      const text = await response.text();
      return text
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map((line) => JSON.parse(line.slice(6)) as { method?: string; result?: CallToolResult });
    };
    const silent = await messages();
    expect(silent.filter((message) => message.method === 'notifications/progress')).toEqual([]);
    expect(silent.at(-1)?.result?.content.some((part) => part.type === 'audio')).toBe(true);
    const told = await messages({ progressToken: 'seven' });
    expect(told.filter((message) => message.method === 'notifications/progress')).toHaveLength(JOURNEY.length + 1);
  });

  it('answers a failed moment as a tool error with its public message', async () => {
    state.events = 'fail';
    const result = await call(client, 'wait_for_moment', { id: MOMENT_ID, timeout_s: 20 });
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({ ok: false, code: 'MOMENT_FAILED', retryable: false });
    expect((result.content[0] as { text: string }).text).toBe('MOMENT_FAILED: The recording is too quiet to hear a melody. (stage analyze, AUDIO_TOO_QUIET)');
  });

  it('answers with the moment as it stands when the wait runs out, not with an error', async () => {
    state.events = 'hang';
    const result = await call(client, 'wait_for_moment', { id: MOMENT_ID, timeout_s: 1 });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ ok: true, status: 'RENDERING', stage: 'render_vocals', timed_out: true });
    expect(result.content.some((part) => part.type === 'audio')).toBe(false);
  });

  it('refuses a timeout beyond five minutes', async () => {
    const result = await call(client, 'wait_for_moment', { id: MOMENT_ID, timeout_s: 301 });
    expect(result.isError).toBe(true);
    expect((result.content[0] as { text: string }).text).toMatch(/timeout_s/);
  });

  it('fetches a preview only from the configured storage', async () => {
    const elsewhere = await musicTools({ storage: { endpoint: 'http://127.0.0.1:9', bucket: storage.bucket, forcePathStyle: true } });
    const before = storage.requests.length;
    const result = await call(elsewhere, 'wait_for_moment', { id: MOMENT_ID, timeout_s: 20 });
    expect(result.structuredContent).toMatchObject({ ok: false, code: 'URL_NOT_ALLOWED' });
    expect(storage.requests.length).toBe(before);
  });

  it('says to set MCM_API_KEY when the api refuses the key', async () => {
    const keyless = await musicTools({ apiKey: undefined });
    const result = await call(keyless, 'get_moment', { id: MOMENT_ID });
    expect(result.structuredContent).toMatchObject({ ok: false, code: 'API_KEY_REQUIRED' });
    expect((result.content[0] as { text: string }).text).toContain('MCM_API_KEY');
  });

  it('lists the agent tools without a reachable api, and they answer a clear error', async () => {
    const port = await freePort();
    const unreachable = await musicTools({ baseUrl: `http://127.0.0.1:${port}` });
    const { tools } = await unreachable.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(expect.arrayContaining(['create_moment', 'get_moment', 'wait_for_moment', 'list_styles']));
    for (const [name, args] of [
      ['get_moment', { id: MOMENT_ID }],
      ['wait_for_moment', { id: MOMENT_ID, timeout_s: 5 }],
      ['create_moment', { audio_base64: 'AAAA' }],
    ] as const) {
      const result = await call(unreachable, name, args);
      expect(result.isError).toBe(true);
      expect(result.structuredContent).toMatchObject({ ok: false, code: 'API_UNREACHABLE', retryable: true });
      expect((result.content[0] as { text: string }).text).toContain(`http://127.0.0.1:${port}`);
    }

    const unconfigured = await musicTools(null);
    const result = await call(unconfigured, 'get_moment', { id: MOMENT_ID });
    expect(result.structuredContent).toMatchObject({ ok: false, code: 'API_NOT_CONFIGURED' });
  });
});
