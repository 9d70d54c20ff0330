import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MusicToolsClient, MusicToolsError } from './music-tools.client';

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
