import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bearerToken, tokenMatches } from '../auth/bearer-token';
import { isLoopbackHost } from '../outbound/outbound-guard';
import type { AppMetrics } from './metrics';

/** `allowed`; `unauthorized` (401: a token is configured and was not presented); `hidden` (404: no token, and the listener is reachable from the network). */
export type MetricsAccess = 'allowed' | 'unauthorized' | 'hidden';

export interface MetricsGate {
  /** `METRICS_TOKEN`: when set, `/metrics` needs `Authorization: Bearer <token>` wherever it listens. */
  token?: string;
  /** The address the app's listener binds. */
  host: string;
}

/**
 * Who may read `/metrics`. Metrics name routes, queue depths and moment counts, so a listener the
 * network reaches serves them only to a bearer of `METRICS_TOKEN`; a loopback listener serves them
 * to the machine's own scraper without one.
 */
export function metricsAccess(gate: MetricsGate, authorization: string | undefined): MetricsAccess {
  if (gate.token) {
    const given = bearerToken(authorization);
    return given && tokenMatches(given, gate.token) ? 'allowed' : 'unauthorized';
  }
  return isLoopbackHost(gate.host) ? 'allowed' : 'hidden';
}

/** Answers a `/metrics` request on a plain Node or Express response, after the gate. */
export async function sendMetrics(metrics: AppMetrics, gate: MetricsGate, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const access = metricsAccess(gate, request.headers.authorization);
  if (access !== 'allowed') {
    if (access === 'unauthorized') response.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
    response.writeHead(access === 'unauthorized' ? 401 : 404, { 'content-type': 'text/plain; charset=utf-8' }).end(access === 'unauthorized' ? 'Unauthorized\n' : 'Not Found\n');
    return;
  }
  const { contentType, body } = await metrics.exposition();
  response.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body);
}

export interface MetricsServer {
  /** `http://127.0.0.1:<port>/metrics` */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** A listener of its own that serves only `GET /metrics`: for the worker, which has no HTTP server otherwise. It never keeps the process alive. */
export async function startMetricsServer(metrics: AppMetrics, options: MetricsGate & { port: number }): Promise<MetricsServer> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not Found\n');
      return;
    }
    sendMetrics(metrics, options, request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500).end();
    });
  });
  server.listen(options.port, options.host);
  await once(server, 'listening');
  // Metrics never keep a process alive: the app's own shutdown decides when it ends.
  server.unref();
  const { port } = server.address() as AddressInfo;
  const shownHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${shownHost}:${port}/metrics`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
