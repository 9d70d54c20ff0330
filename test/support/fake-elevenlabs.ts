import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runFfmpeg } from '@mcm/audio';

export type FakeBehaviour = 'ok' | 401 | 403 | 422 | 429 | 500 | 'hang' | 'hold';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export interface FakeElevenLabs {
  baseUrl: string;
  requests: RecordedRequest[];
  /** How the next requests are answered, until changed. `hold` keeps them waiting until the next change, which then answers them. */
  behave(behaviour: FakeBehaviour): void;
  close(): Promise<void>;
}

const OUTPUT_FORMAT = /^(mp3|pcm|ulaw|alaw|opus|wav)_\d+(_\d+)?$/;

/** Real MP3 bytes: a tone of the given length, so callers decode, measure and mix true audio. */
async function mp3Tone(seconds: number, hz: number): Promise<Buffer> {
  const { stdout } = await runFfmpeg(
    ['-f', 'lavfi', '-i', `sine=frequency=${hz}:sample_rate=44100:duration=${seconds.toFixed(3)}`, '-af', 'volume=-12dB', '-ac', '2', '-c:a', 'libmp3lame', '-b:a', '128k', '-f', 'mp3', 'pipe:1'],
    { stdout: true },
  );
  return stdout;
}

const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');

/** The shape ElevenLabs documents for each endpoint; an empty list means the body is acceptable. */
function bodyProblems(path: string, body: unknown): string[] {
  const problems: string[] = [];
  const object = (body ?? {}) as Record<string, unknown>;
  if (path.startsWith('/v1/text-to-speech/')) {
    if (typeof object.text !== 'string' || !object.text) problems.push('text: required string');
    if (typeof object.model_id !== 'string') problems.push('model_id: string');
    const settings = object.voice_settings as Record<string, unknown> | undefined;
    for (const field of ['stability', 'similarity_boost', 'style']) {
      const value = settings?.[field];
      if (typeof value !== 'number' || value < 0 || value > 1) problems.push(`voice_settings.${field}: number 0–1`);
    }
    if (typeof settings?.use_speaker_boost !== 'boolean') problems.push('voice_settings.use_speaker_boost: boolean');
    return problems;
  }
  const plan = object.composition_plan as Record<string, unknown> | undefined;
  if (!plan) return ['composition_plan: required'];
  if (object.prompt !== undefined) problems.push('prompt: not with composition_plan');
  if (!isStringArray(plan.positive_global_styles)) problems.push('composition_plan.positive_global_styles: string[]');
  if (!isStringArray(plan.negative_global_styles)) problems.push('composition_plan.negative_global_styles: string[]');
  const sections = plan.sections as Record<string, unknown>[] | undefined;
  if (!Array.isArray(sections) || sections.length === 0 || sections.length > 30) problems.push('composition_plan.sections: 1–30 items');
  (sections ?? []).forEach((section, index) => {
    if (typeof section.section_name !== 'string' || !section.section_name) problems.push(`sections.${index}.section_name: string`);
    if (!isStringArray(section.positive_local_styles)) problems.push(`sections.${index}.positive_local_styles: string[]`);
    if (!isStringArray(section.negative_local_styles)) problems.push(`sections.${index}.negative_local_styles: string[]`);
    if (typeof section.duration_ms !== 'number' || section.duration_ms < 3000 || section.duration_ms > 120000) problems.push(`sections.${index}.duration_ms: 3000–120000`);
    if (!isStringArray(section.lines)) problems.push(`sections.${index}.lines: string[]`);
  });
  return problems;
}

/**
 * A local stand-in for api.elevenlabs.io speaking the documented HTTP API: `POST /v1/text-to-speech/{voice_id}`
 * and `POST /v1/music`, `xi-api-key` auth, `output_format` query, JSON bodies checked for shape, and
 * real MP3 audio back. It can be told to refuse the key, throttle, fail, or never answer.
 */
export async function startFakeElevenLabs(apiKey: string): Promise<FakeElevenLabs> {
  let behaviour: FakeBehaviour = 'ok';
  const requests: RecordedRequest[] = [];
  const hanging = new Set<ServerResponse>();
  let release: () => void = () => undefined;
  let released = Promise.resolve();

  const answer = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://fake');
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    let body: unknown;
    try {
      body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : null;
    } catch {
      body = Buffer.concat(chunks).toString('utf8');
    }
    requests.push({ method: request.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), headers: request.headers, body });
    const json = (status: number, payload: unknown): void => {
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
    };

    if (behaviour === 'hold') await released;
    const speech = /^\/v1\/text-to-speech\/[^/]+$/.test(url.pathname);
    if (!speech && url.pathname !== '/v1/music') return json(404, { detail: 'Not Found' });
    if (request.method !== 'POST') return json(405, { detail: 'Method Not Allowed' });
    if (behaviour === 'hang') {
      hanging.add(response);
      return;
    }
    if (request.headers['xi-api-key'] !== apiKey || behaviour === 401) return json(401, { detail: { status: 'invalid_api_key', message: 'Invalid API key' } });
    if (behaviour === 403) return json(403, { detail: { status: 'missing_permissions', message: 'The API key lacks the music permission' } });
    if (behaviour === 429) return json(429, { detail: { status: 'too_many_concurrent_requests', message: 'Too many concurrent requests' } });
    if (behaviour === 500) return json(500, { detail: { status: 'internal_error', message: 'Something went wrong' } });
    const format = url.searchParams.get('output_format');
    if (format !== null && !OUTPUT_FORMAT.test(format)) return json(422, { detail: [{ loc: ['query', 'output_format'], msg: 'unknown output format' }] });
    const problems = bodyProblems(url.pathname, body);
    if (behaviour === 422 || problems.length) {
      return json(422, { detail: (problems.length ? problems : ['text: too long']).map((problem) => ({ loc: ['body', problem.split(':')[0]], msg: problem.split(': ')[1] ?? problem })) });
    }
    const seconds = speech
      ? Math.min(8, 0.5 + (body as { text: string }).text.split(/\s+/).length * 0.35)
      : (body as { composition_plan: { sections: { duration_ms: number }[] } }).composition_plan.sections.reduce((sum, section) => sum + section.duration_ms, 0) / 1000;
    const audio = await mp3Tone(seconds, speech ? 180 : 110);
    response.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': audio.length }).end(audio);
  };

  const server: Server = createServer((request, response) => {
    answer(request, response).catch((error: Error) => {
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ detail: error.message }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    behave: (next) => {
      if (next === 'hold' && behaviour !== 'hold') released = new Promise((resolve) => (release = resolve));
      behaviour = next;
      if (next !== 'hold') release();
    },
    close: async () => {
      release();
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
