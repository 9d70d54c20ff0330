import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { closeAudioWorkers, describeFfmpeg } from '@mcm/audio';
import { loadConfigOrExit } from '@mcm/core/config/app-config';
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

  if (process.argv.includes('--stdio')) {
    // stdout carries the protocol in stdio mode, so every log line goes to stderr.
    const log = (line: string) => process.stderr.write(`${line}\n`);
    log(`music-tools mixes with ${describeFfmpeg()}`);
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
    }, log);
    return;
  }

  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(`music-tools mixes with ${describeFfmpeg()}`);
  const http = await startMusicToolsHttp({
    port: config.MCP_HTTP_PORT,
    host: config.HOST,
    authToken: config.MCP_AUTH_TOKEN,
    log,
  });
  if (config.MCP_AUTH_TOKEN) log('music-tools requires a bearer token on /mcp');
  log(`music-tools listening on ${http.url}`);
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
