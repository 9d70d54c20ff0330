import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Logger } from 'pino';
import { closeAudioWorkers } from '@mcm/audio';
import { loadConfigOrExit } from '@mcm/core/config/app-config';
import { createLogger, logProcessWarnings } from '@mcm/core/logging/logger-options';
import { startMusicToolsHttp } from './http';
import { createMusicToolsServer } from './music-tools.server';

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
  const config = loadConfigOrExit();
  const appLogger = createLogger(config, 'music-tools');
  logger = appLogger;
  logProcessWarnings(appLogger);
  const log = (line: string) => appLogger.info(line);

  if (process.argv.includes('--stdio')) {
    const server = createMusicToolsServer({ log });
    const transport = new StdioServerTransport();
    transport.onclose = () => process.exit(0);
    await server.connect(transport);
    // The client closing our stdin means it is gone; the SDK transport does not watch for that itself.
    process.stdin.once('end', () => void server.close());
    log('music-tools serving MCP on stdio');
    onShutdown(async () => {
      await server.close();
      await closeAudioWorkers();
    }, appLogger);
    return;
  }

  const http = await startMusicToolsHttp({
    port: config.MCP_HTTP_PORT,
    host: config.HOST,
    authToken: config.MCP_AUTH_TOKEN,
    log,
  });
  if (config.MCP_AUTH_TOKEN) log('music-tools requires a bearer token on /mcp');
  process.stdout.write(`music-tools listening on ${http.url}\n`);
  // In-flight previews finish before the render threads are stopped.
  onShutdown(async () => {
    await http.close();
    await closeAudioWorkers();
  }, appLogger);
}

main().catch((error: unknown) => {
  (logger ?? createLogger({ LOG_LEVEL: 'log' }, 'music-tools')).fatal({ err: error }, 'music-tools failed to start');
  process.exit(1);
});
