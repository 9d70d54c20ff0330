import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { extname, resolve } from 'node:path';
import { MomentsClient, type Moment } from '@main-character/sdk';
import { closeAudioWorkers, startFfmpegLauncher, stopFfmpegLauncher, uploadDemuxer } from '@mcm/audio';
import { ROOT, startStack } from '../scripts/stack';
import { benchEnvironment } from './bench-environment';
import { runEngineMoment } from './engine-moment';

/**
 * Latency from create to COMPLETED for the phone fixture, over RUNS moments one after another:
 * p50/p95, each stage's own compute, and the orchestration overhead (latency minus the
 * compute on the critical path: analyze + compose + validate + max(render) + mix). After the stack stops, the
 * same clip through the engine's own functions in this process gives the critical path with no orchestration at
 * all; client latency over it is the orchestration's share.
 */
const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const INPUT = resolve(process.argv[2] ?? resolve(ROOT, 'test/fixtures/hum-phone.m4a'));
const INPUT_FORMAT = uploadDemuxer(extname(INPUT).slice(1).toLowerCase()) ?? '';
const ENGINE_RUNS = Number(process.env.BENCH_ENGINE_RUNS ?? 5);

type Timings = Record<string, number>;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

const round = (value: number) => Math.round(value);

async function main(): Promise<void> {
  const { env, remove } = benchEnvironment();
  const stack = await startStack({ env, log: (app, line) => /error/i.test(line) && process.stderr.write(`[${app}] ${line}\n`) });
  const client = new MomentsClient({ baseUrl: stack.apiUrl });
  const rows: { clientMs: number; serverMs: number; computeMs: number; overheadMs: number; timings: Timings }[] = [];
  try {
    for (let i = 0; i < WARMUP + RUNS; i++) {
      const started = performance.now();
      const created = await client.createMoment(INPUT, { style: 'cinematic' });
      const moment: Moment = await client.waitForMoment(created.id, { intervalMs: 10, timeoutMs: 120_000 });
      const clientMs = performance.now() - started;
      if (i < WARMUP) continue;
      const timings = (moment.timings_ms ?? {}) as Timings;
      const serverMs = new Date(moment.completed_at!).getTime() - new Date(moment.created_at).getTime();
      const computeMs = timings.analyze + timings.compose + timings.validate + Math.max(timings.render_vocals, timings.render_instrumental) + timings.mix;
      rows.push({ clientMs, serverMs, computeMs, overheadMs: serverMs - computeMs, timings });
      process.stdout.write(`run ${i - WARMUP + 1}/${RUNS}: ${round(clientMs)} ms (server ${serverMs} ms, compute ${computeMs} ms)\n`);
    }
  } finally {
    await stack.stop();
    await remove();
  }
  const inProcess: number[] = [];
  // ffmpeg runs as the apps run it.
  const engineFfmpeg = await startFfmpegLauncher();
  for (let i = 0; i <= ENGINE_RUNS && INPUT_FORMAT; i++) {
    const run = await runEngineMoment(INPUT, INPUT_FORMAT, 'cinematic');
    // The first run loads the soundfont, as the stack's warm-up moments did.
    if (i > 0) inProcess.push(run.critical_path_ms);
  }
  await closeAudioWorkers();
  await stopFfmpegLauncher();
  const clientP50 = percentile(
    rows.map((r) => r.clientMs),
    50,
  );
  const inProcessP50 = inProcess.length ? percentile(inProcess, 50) : NaN;

  const stages = ['analyze', 'compose', 'validate', 'render_vocals', 'render_instrumental', 'mix'];
  const summary = {
    runs: RUNS,
    input: INPUT.replace(`${ROOT}/`, ''),
    latency_ms: {
      client_p50: round(
        percentile(
          rows.map((r) => r.clientMs),
          50,
        ),
      ),
      client_p95: round(
        percentile(
          rows.map((r) => r.clientMs),
          95,
        ),
      ),
      server_p50: round(
        percentile(
          rows.map((r) => r.serverMs),
          50,
        ),
      ),
      server_p95: round(
        percentile(
          rows.map((r) => r.serverMs),
          95,
        ),
      ),
    },
    in_process_critical_path_ms_p50: round(inProcessP50),
    in_process_ffmpeg: engineFfmpeg,
    client_over_in_process: Math.round((clientP50 / inProcessP50) * 100) / 100,
    overhead_ms: {
      p50: round(
        percentile(
          rows.map((r) => r.overheadMs),
          50,
        ),
      ),
      p95: round(
        percentile(
          rows.map((r) => r.overheadMs),
          95,
        ),
      ),
    },
    stage_ms_p50: Object.fromEntries(
      stages.map((stage) => [
        stage,
        round(
          percentile(
            rows.map((r) => r.timings[stage]),
            50,
          ),
        ),
      ]),
    ),
    stage_ms_p95: Object.fromEntries(
      stages.map((stage) => [
        stage,
        round(
          percentile(
            rows.map((r) => r.timings[stage]),
            95,
          ),
        ),
      ]),
    ),
    machine: { cpus: cpus().length, node: process.version },
  };
  process.stdout.write(`\n${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(resolve(ROOT, 'bench/latency.results.json'), `${JSON.stringify(summary, null, 2)}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`benchmark failed: ${error.message}\n`);
  process.exit(1);
});
