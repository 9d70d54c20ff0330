import { writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ffmpegInput, runFfmpeg, startFfmpegLauncher, stopFfmpegLauncher } from '@mcm/audio';
import { ffmpegLauncher } from '../libs/audio/src/io/ffmpeg-launcher';
import { ROOT } from '../scripts/stack';
import { processCpuMs, processTreeCpuMs } from './process-cpu';

/**
 * What an ffmpeg run costs a process the size of a worker, each run started afresh from the process itself and
 * forked from the fork server, alternating in one run. The process first holds HOLD_MB of touched memory (a
 * worker with its audio threads and soundfonts is 500–600 MB), then runs RUNS decodes of the phone take,
 * CONCURRENCY at a time, per round and way. Reported per run: CPU of this process, CPU of everything below it
 * (ffmpeg; with the fork server, the server too), wall time, and how long this process's event loop was held up.
 */
const HOLD_MB = Number(process.env.BENCH_HOLD_MB ?? 560);
const RUNS = Number(process.env.BENCH_RUNS ?? 40);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 2);
const INPUT = resolve(ROOT, 'test/fixtures/hum-phone.m4a');

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** The decode every stage starts with: the take to mono float PCM on stdout. */
const decode = () => runFfmpeg([...ffmpegInput(INPUT, 'mov'), '-ac', '1', '-ar', '44100', '-f', 'f32le', 'pipe:1'], { stdout: true });

interface Round {
  self_cpu_ms: number;
  below_cpu_ms: number;
  total_cpu_ms: number;
  wall_ms: number;
  event_loop_delay_p99_ms: number;
  event_loop_delay_max_ms: number;
}

async function measure(): Promise<Round> {
  const launcherPid = (await ffmpegLauncher())?.pid;
  const belowMs = () => processCpuMs().children + (launcherPid === undefined ? 0 : processTreeCpuMs(launcherPid));
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const ownBefore = processCpuMs().own;
  const belowBefore = belowMs();
  const started = performance.now();
  delay.enable();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < RUNS) {
        next += 1;
        await decode();
      }
    }),
  );
  delay.disable();
  const wall = performance.now() - started;
  const self = processCpuMs().own - ownBefore;
  const belowCpu = belowMs() - belowBefore;
  return {
    self_cpu_ms: round(self / RUNS, 2),
    below_cpu_ms: round(belowCpu / RUNS, 2),
    total_cpu_ms: round((self + belowCpu) / RUNS, 2),
    wall_ms: round(wall / RUNS, 2),
    event_loop_delay_p99_ms: round(delay.percentile(99) / 1e6, 2),
    event_loop_delay_max_ms: round(delay.max / 1e6, 2),
  };
}

async function main(): Promise<void> {
  // Touched, so the pages are mapped and a fork copies their tables, as it does a worker's.
  const held = Array.from({ length: HOLD_MB }, () => Buffer.alloc(2 ** 20, 1));
  const rss = process.memoryUsage().rss / 2 ** 20;
  const rounds: { afresh: Round[]; forked: Round[] } = { afresh: [], forked: [] };
  // One of each first, so both ways have loaded what they load once.
  await decode();
  const launching = await startFfmpegLauncher();
  if (!(await ffmpegLauncher())) throw new Error(`the fork server does not run: ${launching}`);
  await decode();
  await stopFfmpegLauncher();
  for (let r = 0; r < ROUNDS; r++) {
    rounds.afresh.push(await measure());
    await startFfmpegLauncher();
    rounds.forked.push(await measure());
    await stopFfmpegLauncher();
    process.stderr.write(`round ${r + 1}: afresh ${JSON.stringify(rounds.afresh[r])}\n         forked ${JSON.stringify(rounds.forked[r])}\n`);
  }
  const medians = (list: Round[]) => Object.fromEntries(Object.keys(list[0]).map((key) => [key, median(list.map((entry) => entry[key as keyof Round]))])) as unknown as Round;
  const afresh = medians(rounds.afresh);
  const forked = medians(rounds.forked);
  const summary = {
    held_rss_mb: Math.round(rss),
    runs_per_round: RUNS,
    concurrency: CONCURRENCY,
    rounds: ROUNDS,
    median_per_run: { afresh, forked },
    forked_over_afresh: {
      self_cpu: round(forked.self_cpu_ms / afresh.self_cpu_ms, 2),
      total_cpu: round(forked.total_cpu_ms / afresh.total_cpu_ms, 2),
      wall: round(forked.wall_ms / afresh.wall_ms, 2),
      event_loop_delay_p99: round(forked.event_loop_delay_p99_ms / afresh.event_loop_delay_p99_ms, 2),
    },
    machine: { cores: availableParallelism(), load_average_1m: round(loadavg()[0]), node: process.version },
  };
  held.length = 0;
  writeFileSync(resolve(ROOT, 'bench/ffmpeg-launch.results.json'), `${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`benchmark failed: ${error.message}\n`);
  process.exit(1);
});
