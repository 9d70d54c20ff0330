import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export type FakeHandler = (request: RecordedRequest, response: ServerResponse) => void | Promise<void>;

export interface FakeApi {
  baseUrl: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/** A tiny local HTTP server standing in for the API: records every request and answers with `handler`. */
export async function startFakeApi(handler: FakeHandler): Promise<FakeApi> {
  const requests: RecordedRequest[] = [];
  const respond = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const request = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks) };
    requests.push(request);
    try {
      await handler(request, res);
    } catch (error) {
      sendJson(res, 500, { type: 'about:blank', title: 'Fake API failure', status: 500, code: 'FAKE_FAILURE', detail: String(error) });
    }
  };
  // The server does not await its listener; a failing handler is answered with a 500 above.
  const server = createServer((req, res) => void respond(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, contentType = 'application/json'): void {
  res.writeHead(status, { 'content-type': contentType });
  res.end(JSON.stringify(body));
}

export function sendProblem(res: ServerResponse, status: number, code: string, title: string, detail?: string): void {
  sendJson(res, status, { type: `https://errors.main-character.dev/${code}`, title, status, detail, code, instance: '/v1/test' }, 'application/problem+json');
}

/** A complete MomentDto as the API returns it; override fields per test. */
export function cannedMoment(overrides: Record<string, unknown> = {}) {
  return {
    id: '5f0c7a8e-2a4b-4c1d-9e8f-0123456789ab',
    status: 'PENDING',
    stage: null,
    progress: 0,
    original_audio_url: 'http://storage.local/original.m4a?sig=1',
    blueprint_json: null,
    final_audio_url: null,
    assets: { original: 'http://storage.local/original.m4a?sig=1' },
    analysis: null,
    error: null,
    attempts: 0,
    created_at: '2025-01-01T00:00:00.000Z',
    updated_at: '2025-01-01T00:00:00.000Z',
    completed_at: null,
    timings_ms: {},
    output_kind: 'preview',
    style: 'cinematic',
    title: 'Morning run',
    ...overrides,
  };
}
