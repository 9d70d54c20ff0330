import type { AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { localhostHostValidation } from '@modelcontextprotocol/sdk/server/middleware/hostHeaderValidation.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { bearerToken, tokenMatches } from '@mcm/core/auth/bearer-token';
import { observeHttp } from '@mcm/core/observability/http-observer';
import type { AppMetrics } from '@mcm/core/observability/metrics';
import { sendMetrics } from '@mcm/core/observability/metrics-endpoint';
import { contextFrom, inServerSpan } from '@mcm/core/observability/tracing';
import { isLoopbackHost } from '@mcm/core/outbound/outbound-guard';
import { createMusicToolsServer, type MusicToolsServerOptions } from './music-tools.server';
import { defaultRenderGate } from './render-gate';

export interface MusicToolsHttpOptions extends MusicToolsServerOptions {
  /** 0 picks a free port. */
  port?: number;
  /** Loopback by default; any other address needs `authToken`. */
  host?: string;
  /** When set, `/mcp` requires `Authorization: Bearer <token>`. */
  authToken?: string;
  /** How long `close()` lets running tool calls finish before cutting connections. */
  shutdownGraceMs?: number;
  /** When given, requests are counted and `/metrics` serves this registry. */
  metrics?: AppMetrics;
  /** `METRICS_TOKEN`: when set, `/metrics` needs it as a bearer token; without it, `/metrics` is served on loopback only. */
  metricsToken?: string;
}

export interface MusicToolsHttp {
  /** The Streamable HTTP endpoint, e.g. `http://127.0.0.1:8080/mcp`. */
  url: string;
  port: number;
  /** The address the socket is bound to, as the operating system reports it. */
  boundAddress: string;
  close(): Promise<void>;
}

/** Shortest bearer token accepted on a non-loopback address, as `MCP_AUTH_TOKEN` validation requires. */
const MIN_TOKEN_LENGTH = 16;

export class UnprotectedBindError extends Error {
  constructor(host: string) {
    super(`refusing to listen on ${host} without MCP_AUTH_TOKEN (${MIN_TOKEN_LENGTH}+ characters): set MCP_HOST=127.0.0.1 or configure a token`);
    this.name = 'UnprotectedBindError';
  }
}

function jsonRpcError(response: Response, status: number, code: number, message: string): void {
  response.status(status).json({ jsonrpc: '2.0', error: { code, message }, id: null });
}

/** The tool name and `_meta` of a `tools/call` request, whose span continues the caller's trace; null for other messages. */
function toolCall(body: unknown): { name: string; meta: unknown } | null {
  if (!body || typeof body !== 'object' || (body as { method?: unknown }).method !== 'tools/call') return null;
  const params = (body as { params?: { name?: unknown; _meta?: unknown } }).params;
  return typeof params?.name === 'string' ? { name: params.name, meta: params._meta } : null;
}

function bearerAuth(token: string) {
  return (request: Request, response: Response, next: NextFunction) => {
    const given = bearerToken(request.headers.authorization);
    if (given && tokenMatches(given, token)) return next();
    response.setHeader('WWW-Authenticate', 'Bearer realm="music-tools"');
    jsonRpcError(response, 401, -32001, 'Unauthorized: a valid bearer token is required');
  };
}

/**
 * Serves MCP over stateless Streamable HTTP: every POST gets a fresh server and transport,
 * so any instance behind a load balancer can answer any request.
 */
export async function startMusicToolsHttp(options: MusicToolsHttpOptions = {}): Promise<MusicToolsHttp> {
  const host = options.host ?? '127.0.0.1';
  const loopback = isLoopbackHost(host);
  // Anyone who can reach a non-loopback address could otherwise call every tool.
  if (!loopback && (options.authToken ?? '').length < MIN_TOKEN_LENGTH) throw new UnprotectedBindError(host);
  // Every request gets its own server; the render cap must span them all.
  const serverOptions: MusicToolsServerOptions = { ...options, renderGate: options.renderGate ?? defaultRenderGate() };
  const app = express();
  app.disable('x-powered-by');
  const { metrics } = options;
  // Counted only: an MCP call's span comes from its `_meta` below, not from the HTTP request.
  if (metrics) app.use(observeHttp(metrics, { spans: false }));

  app.get('/healthz', (_request, response) => {
    response.json({ status: 'ok' });
  });

  if (metrics) {
    app.get('/metrics', (request, response, next) => {
      sendMetrics(metrics, { host, token: options.metricsToken }, request, response).catch(next);
    });
  }

  // Browsers on the same machine must not reach a loopback server through DNS rebinding.
  if (loopback) app.use('/mcp', localhostHostValidation());
  if (options.authToken) app.use('/mcp', bearerAuth(options.authToken));

  // A create_moment call carries the recording as base64: a third larger than the api's upload limit, plus the envelope.
  const bodyLimit = Math.max(4 * 1024 * 1024, Math.ceil(((options.moments?.maxUploadBytes ?? 0) * 4) / 3) + 64 * 1024);
  app.post('/mcp', express.json({ limit: bodyLimit }), async (request, response) => {
    const server = createMusicToolsServer(serverOptions);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    response.on('close', () => {
      void transport.close();
      void server.close();
    });
    const handle = async () => {
      try {
        await server.connect(transport);
        await transport.handleRequest(request, response, request.body);
      } catch (error) {
        options.log?.(`mcp request failed: ${error instanceof Error ? error.message : String(error)}`);
        if (!response.headersSent) jsonRpcError(response, 500, -32603, 'Internal server error');
      }
    };
    const call = toolCall(request.body);
    if (!call) return handle();
    // The caller's trace context arrives in `_meta.traceparent`, whatever the transport.
    await inServerSpan(`mcp ${call.name}`, { parent: contextFrom(call.meta), attributes: { 'rpc.system': 'mcp', 'rpc.method': call.name } }, response, handle);
  });

  // Stateless: there is no server-initiated stream to open and no session to end.
  app.all('/mcp', (_request, response) => {
    response.setHeader('Allow', 'POST');
    jsonRpcError(response, 405, -32000, 'Method not allowed: this server is stateless, use POST');
  });

  app.use((error: Error & { status?: number; type?: string }, _request: Request, response: Response, next: NextFunction) => {
    if (response.headersSent) return next(error);
    if (error.type === 'entity.too.large') return jsonRpcError(response, 413, -32600, 'Request body too large');
    if (error.type === 'entity.parse.failed') return jsonRpcError(response, 400, -32700, 'Parse error: body is not valid JSON');
    jsonRpcError(response, error.status ?? 500, -32603, error.status && error.status < 500 ? error.message : 'Internal server error');
  });

  const httpServer = createServer(app);
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(options.port ?? 0, host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const { port, address: boundAddress } = httpServer.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;

  return {
    url: `http://${shownHost}:${port}/mcp`,
    port,
    boundAddress,
    close: () =>
      new Promise<void>((resolve, reject) => {
        const force = setTimeout(() => httpServer.closeAllConnections(), options.shutdownGraceMs ?? 25_000);
        force.unref();
        httpServer.close((error) => {
          clearTimeout(force);
          if (error) reject(error);
          else resolve();
        });
        httpServer.closeIdleConnections();
      }),
  };
}
