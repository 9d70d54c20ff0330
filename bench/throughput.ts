import { writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { extname, resolve } from 'node:path';
import { MomentsClient } from '@main-character/sdk';
import { closeAudioWorkers, startFfmpegLauncher, stopFfmpegLauncher, uploadDemuxer } from '@mcm/audio';
import { ROOT, startStack, type Stack } from '../scripts/stack';
import { benchEnvironment } from './bench-environment';
import { runEngineMoment } from './engine-moment';
import { processCpuMs, processTreeCpuMs } from './process-cpu';

/**
 * Throughput with MOMENTS submitted at once through the SDK to the stack as processes: moments per minute
 * (first upload to last COMPLETED) and CPU-seconds per moment of every stack process (api, workers, music-tools,
 * each with the ffmpeg processes it ran), against the engine's own CPU per moment: the same stages' engine
 * functions run in this process on the same clip, after the stack has stopped.
 */
const MOMENTS = Number(process.env.BENCH_MOMENTS ?? 30);
const ENGINE_RUNS = Number(process.env.BENCH_ENGINE_RUNS ?? 5);
const STYLE = 'cinematic';
const INPUT = resolve(process.argv[2] ?? resolve(ROOT, 'test/fixtures/hum-phone.m4a'));
const INPUT_FORMAT = uploadDemuxer(extname(INPUT).slice(1).toLowerCase()) ?? '';
if (!INPUT_FORMAT) throw new Error(`${INPUT}: give the take the extension of its container`);

const round = (value: number, digits = 0) => Math.round(value * 10 ** digits) / 10 ** digits;

/** CPU of every app process of the stack and of the processes below it (its ffmpeg launcher and ffmpeg runs), in ms. */
function stackCpuMs(stack: Stack): { total: number; byApp: Record<string, number> } {
  const byApp: Record<string, number> = {};
  for (const app of stack.apps) {
    if (app.child.pid === undefined) throw new Error(`${app.name} has no process id`);
    byApp[app.name] = processTreeCpuMs(app.child.pid);
  }
  return { total: Object.values(byApp).reduce((sum, value) => sum + value, 0), byApp };
}

async function submitAll(client: MomentsClient, count: number): Promise<number> {
  const started = performance.now();
  await Promise.all(
    Array.from({ length: count }, async () => {
      const { id } = await client.createMoment(INPUT, { style: STYLE, idempotencyKey: crypto.randomUUID() });
      const moment = await client.waitForMoment(id, { intervalMs: 250, timeoutMs: 900_000 });
      if (moment.status !== 'COMPLETED') throw new Error(`moment ${id} ended ${moment.status}`);
    }),
  );
  return performance.now() - started;
}

async function main(): Promise<void> {
  // Creates are rate-limited per client address; this benchmark is one client submitting a burst.
  const { env, remove } = benchEnvironment({ RATE_LIMIT_CREATE_PER_MINUTE: '100000' });
  // A burst meets the api's bound on uploads checked at once (503 with Retry-After, which the SDK honours): only other errors are shown.
  const shown = (line: string) => /"level":"(error|fatal)"/.test(line) && !/"statusCode":503/.test(line);
  const stack = await startStack({ env, log: (app, line) => shown(line) && process.stderr.write(`[${app}] ${line}\n`) });
  const client = new MomentsClient({ baseUrl: stack.apiUrl, retry: { maxAttempts: 40 } });
  let wallMs: number;
  let cpu: { total: number; byApp: Record<string, number> };
  const ownBefore = processCpuMs();
  try {
    // One moment first, so every process has loaded what it loads once (the soundfont, ffmpeg's filter probes).
    await submitAll(client, 1);
    const before = stackCpuMs(stack);
    wallMs = await submitAll(client, MOMENTS);
    const after = stackCpuMs(stack);
    cpu = { total: after.total - before.total, byApp: Object.fromEntries(Object.entries(after.byApp).map(([name, ms]) => [name, ms - before.byApp[name]])) };
  } finally {
    await stack.stop();
    await remove();
  }
  const ownAfter = processCpuMs();

  const engine = [];
  // ffmpeg runs as the apps run it.
  const engineFfmpeg = await startFfmpegLauncher();
  for (let i = 0; i <= ENGINE_RUNS; i++) {
    const run = await runEngineMoment(INPUT, INPUT_FORMAT, STYLE);
    // The first run loads the soundfont and warms the engine, as the stack's warm-up moment did.
    if (i > 0) engine.push(run);
  }
  await closeAudioWorkers();
  await stopFfmpegLauncher();
  const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
  const engineOwnMs = mean(engine.map((run) => run.cpu_ms.own));
  const engineFfmpegMs = mean(engine.map((run) => run.cpu_ms.ffmpeg));
  const stackPerMoment = cpu.total / MOMENTS;

  const summary = {
    moments: MOMENTS,
    input: INPUT.replace(`${ROOT}/`, ''),
    style: STYLE,
    wall_s: round(wallMs / 1000, 1),
    moments_per_minute: round((MOMENTS / wallMs) * 60_000, 1),
    stack_cpu_s_per_moment: round(stackPerMoment / 1000, 2),
    stack_cpu_s_per_moment_by_app: Object.fromEntries(Object.entries(cpu.byApp).map(([name, ms]) => [name, round(ms / MOMENTS / 1000, 2)])),
    // The embedded storage runs in this process beside the SDK client, so it is told apart from the stack's apps.
    bench_process_cpu_s_per_moment: round((ownAfter.own - ownBefore.own) / (MOMENTS + 1) / 1000, 2),
    engine_cpu_s_per_moment: { in_process: round(engineOwnMs / 1000, 2), ffmpeg: round(engineFfmpegMs / 1000, 2), total: round((engineOwnMs + engineFfmpegMs) / 1000, 2) },
    engine_ffmpeg: engineFfmpeg,
    stack_over_engine: round(stackPerMoment / (engineOwnMs + engineFfmpegMs), 2),
    stack_over_engine_in_process_only: round(stackPerMoment / engineOwnMs, 2),
    engine_critical_path_ms_mean: round(mean(engine.map((run) => run.critical_path_ms))),
    machine: { cores: availableParallelism(), load_average_1m: round(loadavg()[0], 1), node: process.version },
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(resolve(ROOT, 'bench/throughput.results.json'), `${JSON.stringify(summary, null, 2)}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`benchmark failed: ${error.message}\n`);
  process.exit(1);
});
