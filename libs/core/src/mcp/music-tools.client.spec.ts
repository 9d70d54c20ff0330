import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MusicToolsClient, MusicToolsError } from './music-tools.client';

type Answer = (result: unknown) => void;

/**
 * A stateless MCP server on loopback that answers the handshake as music-tools does and hands each tool call
 * (its answer function and its request) to `onCall`.
 */
async function mcpStandIn(name: string, onCall: (answer: Answer, request: IncomingMessage, response: ServerResponse) => void): Promise<{ server: Server; port: number; initialized: () => number }> {
  let initialized = 0;
  const server = createServer((request, response) => {
    if (request.method !== 'POST') return void response.writeHead(405).end();
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const message = JSON.parse(body) as { id?: number; method: string; params?: { protocolVersion?: string } };
      const answer: Answer = (result) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result }));
      if (message.method === 'initialize') {
        initialized += 1;
        return answer({ protocolVersion: message.params?.protocolVersion, capabilities: { tools: {} }, serverInfo: { name, version: '1' } });
      }
      if (message.id === undefined) return void response.writeHead(202).end();
      onCall(answer, request, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, initialized: () => initialized };
}

/** Begins a tool call's event stream, then cuts the connection under it. */
function cutMidStream(request: IncomingMessage, response: ServerResponse, afterMs: number): void {
  response.writeHead(200, { 'content-type': 'text/event-stream' });
  response.write(': working\n\n');
  setTimeout(() => request.socket.destroy(), afterMs);
}

describe('MusicToolsClient when music-tools is not reachable', () => {
  let closedPort: number;
  let broken: Server;
  let brokenPort: number;

  beforeAll(async () => {
    // A port that was free a moment ago: nothing listens there now.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    closedPort = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));

    // A server that answers every request with a gateway error, like a proxy in front of a dead instance.
    broken = createServer((_request, response) => response.writeHead(502).end('bad gateway'));
    await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
    brokenPort = (broken.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => broken.close(resolve));
  });

  it('reports a refused connection as retryable MCP_UNAVAILABLE', async () => {
    const client = new MusicToolsClient({ baseUrl: `http://127.0.0.1:${closedPort}` });
    const error = await client.validateBlueprint({}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MusicToolsError);
    expect(error).toMatchObject({ code: 'MCP_UNAVAILABLE', retryable: true });
    expect(await client.health()).toBe(false);
  });

  it('reports an upstream gateway error as retryable MCP_UNAVAILABLE', async () => {
    const client = new MusicToolsClient({ baseUrl: `http://127.0.0.1:${brokenPort}/mcp` });
    const error = await client
      .synthesizePreview({
        blueprint: {},
        stems: { instrumental_url: 'http://127.0.0.1/stem.wav' },
        upload: { preview_url: 'http://127.0.0.1/p', master_url: 'http://127.0.0.1/m' },
      })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'MCP_UNAVAILABLE', retryable: true });
    expect((error as Error).message).toContain(`127.0.0.1:${brokenPort}`);
    expect(await client.health()).toBe(false);
  });
});

describe('MusicToolsClient when music-tools dies during a call', () => {
  let server: Server;
  let port: number;

  beforeAll(async () => {
    // Answers the MCP handshake like music-tools, then drops the connection once a tool call's stream has begun.
    ({ server, port } = await mcpStandIn('dying', (_answer, request, response) => cutMidStream(request, response, 100)));
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('fails the call at once as retryable MCP_UNAVAILABLE instead of waiting out its timeout', async () => {
    // The call's own timeout is far beyond the test's: only noticing the cut connection can settle it.
    const client = new MusicToolsClient({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 600_000 });
    const error = await client.validateBlueprint({}).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'MCP_UNAVAILABLE', retryable: true });
  });
});

describe('MusicToolsClient over one connection', () => {
  let server: Server;
  let port: number;
  let initialized: () => number;
  let calls = 0;
  let cutNextCall = false;

  beforeAll(async () => {
    // Each tool call answered as one JSON message, or its stream cut when told to.
    ({ server, port, initialized } = await mcpStandIn('stateless', (answer, request, response) => {
      calls += 1;
      if (!cutNextCall) return answer({ content: [{ type: 'text', text: 'valid' }], structuredContent: { ok: true, errors: [] } });
      cutNextCall = false;
      cutMidStream(request, response, 50);
    }));
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('initialises once for successive and simultaneous calls, and starts afresh after a call whose connection was cut', async () => {
    const client = new MusicToolsClient({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 600_000 });
    await client.validateBlueprint({});
    await Promise.all([client.validateBlueprint({}), client.validateBlueprint({})]);
    expect({ initialized: initialized(), calls }).toEqual({ initialized: 1, calls: 3 });

    cutNextCall = true;
    await expect(client.validateBlueprint({})).rejects.toMatchObject({ code: 'MCP_UNAVAILABLE', retryable: true });
    expect(await client.validateBlueprint({})).toEqual({ ok: true, errors: [] });
    expect({ initialized: initialized(), calls }).toEqual({ initialized: 2, calls: 5 });
    await client.close();
  });
});
