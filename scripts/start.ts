import '@mcm/core/runtime/compile-cache';
import { launcherWorkerNice, startStack } from './stack';

/** `npm start`: the whole stack in the foreground until Ctrl-C. */
async function main(): Promise<void> {
  const stack = await startStack({ workers: Number(process.env.WORKER_PROCESSES ?? 1), workerNice: launcherWorkerNice() });
  process.stdout.write(
    `\nMain Character Moment is running.\n  Page     ${stack.apiUrl}/\n  API      ${stack.apiUrl}/v1\n  Swagger  ${stack.apiUrl}/docs\n  MCP      ${stack.mcpUrl}/mcp\nPress Ctrl-C to stop.\n\n`,
  );
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\nstopping…\n');
    await stack.stop();
    process.exit(0);
  };
  // A signal handler is not awaited; shutdown ends the process itself.
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
  for (const app of stack.apps) {
    app.child.once('exit', (code) => {
      if (!stopping) {
        process.stderr.write(`${app.name} exited unexpectedly (code ${code}); stopping the stack\n`);
        void shutdown().then(() => process.exit(1));
      }
    });
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
});
