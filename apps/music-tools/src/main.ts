import '@mcm/core/runtime/compile-cache';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Logger } from 'pino';
import { closeAudioWorkers, configureAudioEngine, describeFfmpeg, startFfmpegLauncher, stopFfmpegLauncher, sweepWorkDirectories } from '@mcm/audio';
import { loadConfigOrExit } from '@mcm/core/config/app-config';
import { createLogger, logProcessWarnings } from '@mcm/core/logging/logger-options';
import { AppMetrics } from '@mcm/core/observability/metrics';
import { metricsAccess } from '@mcm/core/observability/metrics-endpoint';
import { startTracing, stopTracing } from '@mcm/core/observability/tracing';
import { OUTBOUND_ALLOW_PRIVATE_WARNING } from '@mcm/core/outbound/outbound-guard';
import { storageLocation } from '@mcm/core/storage/presigned-url';
import { startMusicToolsHttp } from './http';
import { MomentsApi } from './moments-api';
import { createMusicToolsServer } from './music-tools.server';
import { RenderGate } from './render-gate';

function onShutdown(stop: () => Promise<void>, logger: Logger): void {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      logger.info(`music-tools received ${signal}, shutting down`);
      stop().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'music-tools shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}

/** JSON lines on stderr in both modes: in stdio mode stdout carries the protocol, over HTTP only the "listening" line. */
let logger: Logger | undefined;

async function main(): Promise<void> {
  const config = loadConfigOrExit('music-tools');
  const appLogger = createLogger(config, 'music-tools');
  logger = appLogger;
  logProcessWarnings(appLogger);
  const log = (line: string) => appLogger.info(line);
  if (config.OUTBOUND_ALLOW_PRIVATE) appLogger.warn(OUTBOUND_ALLOW_PRIVATE_WARNING);
  // Stems are fetched from and results PUT to this storage only.
  const storage = storageLocation(config);
  const swept = await sweepWorkDirectories();
  if (swept.length) log(`removed ${swept.length} work director${swept.length === 1 ? 'y' : 'ies'} left by stopped processes`);
  configureAudioEngine({ maxRenderSeconds: config.MAX_RENDER_SECONDS });
  const limits = { maxRenderSeconds: config.MAX_RENDER_SECONDS, renderGate: new RenderGate(config.MCP_MAX_RENDERS, config.MCP_RENDER_QUEUE) };
  // The agent tools are a client of the api like any other: its URL and key, never its database.
  const moments = new MomentsApi({
    baseUrl: config.MCM_API_URL,
    apiKey: config.MCM_API_KEY,
    maxUploadBytes: Math.floor(config.MAX_UPLOAD_MB * 1024 * 1024),
    storage,
    log,
  });

  if (process.argv.includes('--stdio')) {
    log(`mixing with ${describeFfmpeg()}`);
    const server = createMusicToolsServer({ storage, log, moments, ...limits });
    const transport = new StdioServerTransport();
    transport.onclose = () => process.exit(0);
    await server.connect(transport);
    // The client closing our stdin means it is gone; the SDK transport does not watch for that itself.
    process.stdin.once('end', () => void server.close());
    log('music-tools serving MCP on stdio');
    onShutdown(async () => {
      await server.close();
      await closeAudioWorkers();
      await stopFfmpegLauncher();
    }, appLogger);
    log(await startFfmpegLauncher());
    return;
  }

  if (await startTracing('music-tools')) log('exporting traces over OTLP/HTTP');
  const metrics = new AppMetrics();
  metrics.collectProcessMetrics();
  const http = await startMusicToolsHttp({
    port: config.MCP_HTTP_PORT,
    host: config.MCP_HOST,
    authToken: config.MCP_AUTH_TOKEN,
    storage,
    log,
    moments,
    metrics,
    metricsToken: config.METRICS_TOKEN,
    ...limits,
  });
  if (metricsAccess({ host: config.MCP_HOST, token: config.METRICS_TOKEN }, undefined) === 'hidden') appLogger.warn(`/metrics on ${config.MCP_HOST} answers 404 until METRICS_TOKEN is set`);
  // Logged once the bind is allowed, so a refused start says one line only.
  log(`mixing with ${describeFfmpeg()}`);
  if (config.MCP_AUTH_TOKEN) log('music-tools requires a bearer token on /mcp');
  log(`agent tools call the moments api at ${config.MCM_API_URL}${config.MCM_API_KEY ? ' with a client key' : ''}`);
  process.stdout.write(`music-tools listening on ${http.url} (bound to ${http.boundAddress})\n`);
  // In-flight previews finish before the render threads and the ffmpeg fork server are stopped.
  onShutdown(async () => {
    await http.close();
    await closeAudioWorkers();
    await stopFfmpegLauncher();
    await stopTracing();
  }, appLogger);
  // Once ready, so it takes no CPU from the start; until it is up, ffmpeg runs start afresh or wait for it.
  log(await startFfmpegLauncher());
}

main().catch((error: unknown) => {
  (logger ?? createLogger({ LOG_LEVEL: 'log' }, 'music-tools')).fatal({ err: error }, 'music-tools failed to start');
  process.exit(1);
});
