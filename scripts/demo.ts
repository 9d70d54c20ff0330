import '@mcm/core/runtime/compile-cache';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { MomentsClient, type Moment } from '@main-character/sdk';
import { ROOT, formatLogLine, launcherWorkerNice, startStack } from './stack';

/**
 * `npm run demo [audio-file]`: starts the whole stack, turns a recording into a theme song
 * through the SDK, saves the mastered preview and stops everything.
 */
async function main(): Promise<void> {
  const input = resolve(process.argv[2] ?? resolve(ROOT, 'test/fixtures/hum-phone.m4a'));
  const env = {
    ...process.env,
    PORT: process.env.PORT ?? '0',
    MCP_HTTP_PORT: process.env.MCP_HTTP_PORT ?? '0',
    EMBEDDED_S3_PORT: process.env.EMBEDDED_S3_PORT ?? '0',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  };
  // The AWS SDK's notice about its future Node 22 requirement is not about this run.
  const quiet = (app: string, line: string) => {
    if (/error|warn|fail/i.test(line) && !/NodeVersionSupportWarning|trace-warnings/.test(line)) process.stderr.write(`[${app}] ${formatLogLine(line)}\n`);
  };
  process.stdout.write('Starting the stack (storage, music-tools, worker, api)…\n');
  const stack = await startStack({ env, log: quiet, workerNice: launcherWorkerNice(env) });
  let exitCode = 0;
  try {
    process.stdout.write(`Stack is up: page ${stack.apiUrl}/, api ${stack.apiUrl}/v1, music-tools ${stack.mcpUrl}/mcp\n`);
    const client = new MomentsClient({ baseUrl: stack.apiUrl });
    process.stdout.write(`Uploading ${input}\n`);
    const created = await client.createMoment(input, { style: process.env.DEMO_STYLE ?? 'cinematic', title: 'My Main Character Moment' });
    process.stdout.write(`Moment ${created.id} accepted (${created.status})\n`);
    const started = Date.now();
    const moment: Moment = await client.waitForMoment(created.id, {
      timeoutMs: 180_000,
      onProgress: (update) => process.stdout.write(`  ${update.status.padEnd(10)} ${String(update.stage ?? '').padEnd(20)} ${Math.round(update.progress * 100)}%\n`),
    });
    const outDir = resolve(ROOT, 'demo-output', moment.id);
    await mkdir(outDir, { recursive: true });
    const previewPath = resolve(outDir, 'preview.mp3');
    await client.download(moment.final_audio_url!, previewPath);
    const analysis = moment.analysis as { tempo_bpm?: number; key?: string } | null;
    const blueprint = moment.blueprint_json as { tempo_bpm?: number; key?: string; style?: string } | null;
    process.stdout.write(
      [
        '',
        `COMPLETED in ${((Date.now() - started) / 1000).toFixed(2)} s`,
        `  heard:    ${analysis?.tempo_bpm} BPM, key ${analysis?.key}`,
        `  song:     ${blueprint?.style}, ${blueprint?.tempo_bpm} BPM in ${blueprint?.key}`,
        `  stages:   ${Object.entries(moment.timings_ms ?? {})
          .map(([stage, ms]) => `${stage} ${ms} ms`)
          .join(', ')}`,
        `  preview:  ${previewPath}`,
        `  url:      ${moment.final_audio_url}`,
        `  page:     ${stack.apiUrl}/m/${moment.id}`,
        '            (both serve while the stack runs; `npm start` keeps it up, with the page at its api address)',
        '',
      ].join('\n'),
    );
  } catch (error) {
    exitCode = 1;
    process.stderr.write(`demo failed: ${(error as Error).message}\n`);
  } finally {
    await stack.stop();
  }
  process.exit(exitCode);
}

void main();
