import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { closeAudioWorkers, sweepWorkDirectories } from '@mcm/audio';
import { loadConfigOrExit } from '@mcm/core/config/app-config';
import { OUTBOUND_ALLOW_PRIVATE_WARNING } from '@mcm/core/outbound/outbound-guard';
import { storageLocation } from '@mcm/core/storage/presigned-url';
import { startMusicToolsHttp } from './http';
import { createMusicToolsServer } from './music-tools.server';

function onShutdown(stop: () => Promise<void>, log: (line: string) => void): void {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      log(`music-tools received ${signal}, shutting down`);
      stop().then(
        () => process.exit(0),
        (error: unknown) => {
          process.stderr.write(`music-tools shutdown failed: ${String(error)}\n`);
          process.exit(1);
        },
      );
    });
  }
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  // Stems are fetched from and results PUT to this storage only.
  const storage = storageLocation(config);
  const swept = await sweepWorkDirectories();
  // stdout carries the protocol in stdio mode, so this goes to stderr.
  if (swept.length) process.stderr.write(`music-tools removed ${swept.length} work director${swept.length === 1 ? 'y' : 'ies'} left by stopped processes\n`);

  if (process.argv.includes('--stdio')) {
    // stdout carries the protocol in stdio mode, so every log line goes to stderr.
    const log = (line: string) => process.stderr.write(`${line}\n`);
    if (config.OUTBOUND_ALLOW_PRIVATE) log(`warning: ${OUTBOUND_ALLOW_PRIVATE_WARNING}`);
    const server = createMusicToolsServer({ storage, log });
    const transport = new StdioServerTransport();
    transport.onclose = () => process.exit(0);
    await server.connect(transport);
    // The client closing our stdin means it is gone; the SDK transport does not watch for that itself.
    process.stdin.once('end', () => void server.close());
    log('music-tools serving MCP on stdio');
    onShutdown(async () => {
      await server.close();
      await closeAudioWorkers();
    }, log);
    return;
  }

  const log = (line: string) => process.stdout.write(`${line}\n`);
  if (config.OUTBOUND_ALLOW_PRIVATE) log(`warning: ${OUTBOUND_ALLOW_PRIVATE_WARNING}`);
  const http = await startMusicToolsHttp({
    port: config.MCP_HTTP_PORT,
    host: config.MCP_HOST,
    authToken: config.MCP_AUTH_TOKEN,
    storage,
    log,
  });
  if (config.MCP_AUTH_TOKEN) log('music-tools requires a bearer token on /mcp');
  log(`music-tools listening on ${http.url} (bound to ${http.boundAddress})`);
  // In-flight previews finish before the render threads are stopped.
  onShutdown(async () => {
    await http.close();
    await closeAudioWorkers();
  }, log);
}

main().catch((error: unknown) => {
  process.stderr.write(`music-tools failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
