import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import type { DynamicModule, INestApplicationContext, Provider } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Queue, Worker, type Job } from 'bullmq';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { composeBlueprint } from '@mcm/audio';
import { loadConfig, migrate, MomentLifecycle, MomentsRepository, redisOptions, type WorkerConfig } from '@mcm/core';
import { MomentStatus, OutputKind, stageJobId, storageKey, type Blueprint, type Stage, type StageJobData, type StageOutput } from '@mcm/pipeline';
import { StageRunner } from '../apps/worker/src/stage-runner.service';
import { stageConcurrency } from '../apps/worker/src/stage.processors';
import { STAGE_WORKS, type StageWork } from '../apps/worker/src/stages/stage-work';
import { WorkerModule } from '../apps/worker/src/worker.module';
import { ROOT } from '../scripts/stack';
import { commandCpuMs } from './process-cpu';
import { benchEnvironment } from './bench-environment';

/**
 * What the orchestration costs, without the work it orchestrates: moments whose stages do
 * nothing, run through the real lifecycle (the worker's processors and StageRunner, row lock,
 * `transition()`, commit, change feed, enqueue after commit) and through a bare BullMQ chain of
 * the same shape (analyze ─▶ validate ─▶ render_vocals ∥ render_instrumental ─▶ mix), alternating
 * in one process: moments/s at CONCURRENCY moments in flight, unloaded latency of one moment at
 * a time, and the SQL queries and Redis commands each moment costs.
 */
const MOMENTS = Number(process.env.BENCH_MOMENTS ?? 500);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const LATENCY_RUNS = Number(process.env.BENCH_LATENCY_RUNS ?? 30);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 20);
/** Jobs per stage queue on both sides; unset: the worker's own default (`stageConcurrency`). */
const WORKER_CONCURRENCY = process.env.BENCH_WORKER_CONCURRENCY;

/** Counts every SQL statement and Redis command this process sends. */
const sent = { sql: 0, redis: 0 };
const sqlByText = new Map<string, number>();
const profileSql = process.env.BENCH_PROFILE_SQL === '1';
// Wrapped on the prototypes, so every client of the process (TypeORM's pool, BullMQ's connections) is counted.
const pgClient = Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
const pgQuery = pgClient.query;
pgClient.query = function (this: Client, ...args: unknown[]) {
  sent.sql += 1;
  if (profileSql) {
    const text = typeof args[0] === 'string' ? args[0] : String((args[0] as { text?: string })?.text);
    const key = text.replace(/\s+/g, ' ').slice(0, 140);
    sqlByText.set(key, (sqlByText.get(key) ?? 0) + 1);
  }
  return pgQuery.apply(this, args);
};
const redisClient = IORedis.prototype as unknown as { sendCommand: (...args: unknown[]) => unknown };
const redisSend = redisClient.sendCommand;
redisClient.sendCommand = function (this: IORedis, ...args: unknown[]) {
  sent.redis += 1;
  return redisSend.apply(this, args);
};

/** The shape of a moment with its blueprint given: four steps deep, five jobs. */
const SHAPE: { stage: Stage; next: Stage[]; join?: boolean }[] = [
  { stage: 'analyze', next: ['validate'] },
  { stage: 'validate', next: ['render_vocals', 'render_instrumental'] },
  { stage: 'render_vocals', next: ['mix'], join: true },
  { stage: 'render_instrumental', next: ['mix'], join: true },
  { stage: 'mix', next: [] },
];

/** What a no-op analyze answers: a plausible hummed take, so compose writes a real blueprint. */
const NO_OP_ANALYSIS: StageOutput['analyze']['analysis'] = {
  duration_s: 12,
  sample_rate: 44100,
  channels: 1,
  loudness_lufs: -20,
  peak_dbfs: -6,
  voiced_start_s: 0.5,
  voiced_end_s: 11,
  median_pitch_hz: 220,
  notes: [],
  tempo_bpm: 96,
  tempo_source: 'onsets',
  key: 'Am',
  key_confidence: 0.7,
  energy: 0.6,
};

/** Stage works that do nothing but answer what the real ones would. */
function noOpWorks(blueprint: Blueprint): StageWork[] {
  const outputs: { [S in Stage]: (id: string) => StageOutput[S] } = {
    analyze: () => ({ analysis: NO_OP_ANALYSIS }),
    compose: () => ({ blueprint }),
    validate: () => ({ ok: true, errors: [] }),
    render_vocals: (id) => ({ key: storageKey(id, 'stems/vocals.wav') }),
    render_instrumental: (id) => ({ key: storageKey(id, 'stems/instrumental.wav') }),
    mix: (id) => ({ preview: storageKey(id, 'preview.mp3'), master: storageKey(id, 'master.wav'), duration_ms: 30_000, loudness_lufs: -14, true_peak_dbtp: -1 }),
  };
  return (Object.keys(outputs) as Stage[]).map((stage) => ({ stage, run: (moment) => Promise.resolve(outputs[stage](moment.id) as never) }));
}

/** Resolves each moment's promise when its last stage has finished. */
class Finish {
  private readonly waiting = new Map<string, () => void>();
  expect(id: string): Promise<void> {
    return new Promise((resolvePromise) => this.waiting.set(id, resolvePromise));
  }
  done(id: string): void {
    this.waiting.get(id)?.();
    this.waiting.delete(id);
  }
}

interface Side {
  name: 'lifecycle' | 'bare';
  /** Starts one moment and resolves when it has finished. */
  run(): Promise<void>;
  check(count: number): Promise<void>;
}

/** The real worker app, with the stage works replaced by no-ops. */
async function lifecycleSide(config: WorkerConfig, blueprint: Blueprint): Promise<Side & { app: INestApplicationContext }> {
  const module = WorkerModule.forRoot(config);
  const providers = (module.providers ?? []).map((provider: Provider) =>
    typeof provider === 'object' && 'provide' in provider && provider.provide === STAGE_WORKS ? { provide: STAGE_WORKS, useValue: noOpWorks(blueprint) } : provider,
  );
  const app = await NestFactory.createApplicationContext({ ...module, providers } as DynamicModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  const lifecycle = app.get(MomentLifecycle);
  const moments = app.get(MomentsRepository);
  const runner = app.get(StageRunner);
  const finish = new Finish();
  const run = runner.run.bind(runner);
  runner.run = async (job: StageJobData) => {
    await run(job);
    if (job.stage === 'mix') finish.done(job.momentId);
  };
  let started: string[] = [];
  return {
    name: 'lifecycle',
    app,
    async run() {
      const momentId = randomUUID();
      started.push(momentId);
      const finished = finish.expect(momentId);
      await lifecycle.create({ momentId, outputKind: OutputKind.Preview, originalKey: storageKey(momentId, 'original.m4a'), blueprint });
      await finished;
    },
    async check(count) {
      const ids = started;
      started = [];
      const rows = await Promise.all(ids.map((id) => moments.findById(id)));
      const completed = rows.filter((row) => row?.status === MomentStatus.Completed).length;
      if (completed !== count) throw new Error(`${completed} of ${count} moments completed`);
    },
  };
}

/** The same shape as bare BullMQ: each stage's job enqueues the next; the second render to finish enqueues the mix. */
async function bareSide(config: WorkerConfig): Promise<Side & { close(): Promise<void> }> {
  const connection = redisOptions(config.REDIS_URL);
  const prefix = `${config.QUEUE_PREFIX}-bare`;
  const redis = new IORedis(connection);
  const queues = new Map(SHAPE.map(({ stage }) => [stage, new Queue<StageJobData>(`bare-${stage}`, { connection, prefix })]));
  const finish = new Finish();
  let finished = 0;
  // The same job options as StageQueue.enqueue, so both sides leave the same trail in Redis.
  const enqueue = (momentId: string, stage: Stage) =>
    queues.get(stage)!.add(
      stage,
      { momentId, stage, run: 1, attempt: 1 },
      {
        jobId: stageJobId(momentId, { stage, run: 1, attempt: 1 }),
        attempts: 4,
        backoff: { type: 'exponential', delay: 1_000 },
        removeOnComplete: { age: 24 * 3600, count: 10_000 },
        removeOnFail: { age: 24 * 3600, count: 10_000 },
      },
    );
  const workers = SHAPE.map(
    ({ stage, next, join }) =>
      new Worker<StageJobData>(
        `bare-${stage}`,
        async (job: Job<StageJobData>) => {
          const { momentId } = job.data;
          if (join) {
            const key = `${prefix}:join:${momentId}`;
            if ((await redis.incr(key)) < 2) return;
            await redis.del(key);
          }
          for (const stageNext of next) await enqueue(momentId, stageNext);
          if (!next.length) {
            finished += 1;
            finish.done(momentId);
          }
        },
        { connection, prefix, concurrency: stageConcurrency(config, stage), lockDuration: config.WORKER_LOCK_MS, stalledInterval: config.WORKER_STALLED_INTERVAL_MS, maxStalledCount: 3 },
      ),
  );
  await Promise.all(workers.map((worker) => worker.waitUntilReady()));
  return {
    name: 'bare',
    async run() {
      const momentId = randomUUID();
      const done = finish.expect(momentId);
      await enqueue(momentId, 'analyze');
      await done;
    },
    async check(count) {
      if (finished !== count) throw new Error(`${finished} of ${count} bare chains finished`);
      finished = 0;
    },
    async close() {
      await Promise.all(workers.map((worker) => worker.close()));
      await Promise.all([...queues.values()].map((queue) => queue.close()));
      redis.disconnect();
    },
  };
}

interface Throughput {
  side: string;
  round: number;
  seconds: number;
  momentsPerSecond: number;
  sqlPerMoment: number;
  redisPerMoment: number;
  /** CPU time of this process (the worker and the driver) per moment; Postgres' and Redis' own are not in it. */
  cpuMsPerMoment: number;
  /** CPU time of the machine's Postgres (its backends and its own processes) per moment. */
  postgresCpuMsPerMoment: number;
  /** CPU time of the machine's Redis per moment. */
  redisCpuMsPerMoment: number;
}

/** MOMENTS moments, CONCURRENCY at a time. */
async function throughput(side: Side, round: number): Promise<Throughput> {
  let next = 0;
  const before = { ...sent };
  const cpu = process.cpuUsage();
  const services = { postgres: commandCpuMs('postgres'), redis: commandCpuMs('redis-server') };
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < MOMENTS) {
        next += 1;
        await side.run();
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const { user, system } = process.cpuUsage(cpu);
  const perMoment = (ms: number) => Number((ms / MOMENTS).toFixed(2));
  const result = {
    side: side.name,
    round,
    seconds: Number(seconds.toFixed(2)),
    momentsPerSecond: Number((MOMENTS / seconds).toFixed(1)),
    sqlPerMoment: Number(((sent.sql - before.sql) / MOMENTS).toFixed(1)),
    redisPerMoment: Number(((sent.redis - before.redis) / MOMENTS).toFixed(1)),
    cpuMsPerMoment: perMoment((user + system) / 1000),
    postgresCpuMsPerMoment: perMoment(commandCpuMs('postgres') - services.postgres),
    redisCpuMsPerMoment: perMoment(commandCpuMs('redis-server') - services.redis),
  };
  await side.check(MOMENTS);
  process.stdout.write(
    `${side.name.padEnd(9)} round ${round}: ${MOMENTS} moments in ${result.seconds} s, ${result.momentsPerSecond}/s, ${result.sqlPerMoment} SQL and ${result.redisPerMoment} Redis, CPU per moment: ${result.cpuMsPerMoment} ms here, ${result.postgresCpuMsPerMoment} ms Postgres, ${result.redisCpuMsPerMoment} ms Redis\n`,
  );
  return result;
}

/** One moment at a time, nothing else running: milliseconds from start to finish. */
async function latency(side: Side): Promise<number> {
  const started = performance.now();
  await side.run();
  return performance.now() - started;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const median = (values: number[]) => percentile(values, 50);
const fixed = (value: number, digits = 1) => Number(value.toFixed(digits));

async function dropQueues(redisUrl: string, prefix: string): Promise<void> {
  const redis = new IORedis(redisUrl);
  let cursor = '0';
  do {
    const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length) await redis.del(...keys);
    cursor = nextCursor;
  } while (cursor !== '0');
  redis.disconnect();
}

async function main(): Promise<void> {
  const { env, remove } = benchEnvironment({
    // Nothing but the moments under test touches Postgres or Redis while it runs.
    RECONCILE_INTERVAL_MS: '3600000',
    ...(WORKER_CONCURRENCY ? { WORKER_CONCURRENCY } : {}),
  });
  const config = loadConfig(env, 'worker');
  await migrate(config.DATABASE_URL);
  const blueprint = composeBlueprint(NO_OP_ANALYSIS, { momentId: randomUUID(), style: 'cinematic', outputKind: OutputKind.Preview });
  const lifecycle = await lifecycleSide(config, blueprint);
  const bare = await bareSide(config);
  const sides = [lifecycle, bare];
  const results: Throughput[] = [];
  const latencies: Record<string, number[]> = { lifecycle: [], bare: [] };
  const perMoment: Record<string, { sql: number; redis: number }> = {};
  try {
    for (const side of sides) for (let i = 0; i < WARMUP; i++) await side.run();
    for (const side of sides) await side.check(WARMUP);
    // One unloaded moment of each, alone: the exact statements and commands one moment costs.
    for (const side of sides) {
      const before = { ...sent };
      sqlByText.clear();
      await side.run();
      perMoment[side.name] = { sql: sent.sql - before.sql, redis: sent.redis - before.redis };
      if (profileSql && side.name === 'lifecycle') for (const [text, count] of sqlByText) process.stdout.write(`  ${String(count).padStart(3)} × ${text}\n`);
      await side.check(1);
    }
    process.stdout.write(`one moment: lifecycle ${perMoment.lifecycle.sql} SQL + ${perMoment.lifecycle.redis} Redis; bare ${perMoment.bare.sql} SQL + ${perMoment.bare.redis} Redis\n`);
    for (let round = 1; round <= ROUNDS; round++) for (const side of sides) results.push(await throughput(side, round));
    for (let i = 0; i < LATENCY_RUNS; i++) for (const side of sides) latencies[side.name].push(await latency(side));
    for (const side of sides) await side.check(LATENCY_RUNS);
  } finally {
    await bare.close();
    await lifecycle.app.close();
    await dropQueues(config.REDIS_URL, config.QUEUE_PREFIX);
    await remove();
  }

  const rate = (name: string) => median(results.filter((r) => r.side === name).map((r) => r.momentsPerSecond));
  const summary = {
    moments: MOMENTS,
    concurrency: CONCURRENCY,
    rounds: ROUNDS,
    worker_concurrency: Object.fromEntries(SHAPE.map(({ stage }) => [stage, stageConcurrency(config, stage)])),
    throughput: results,
    moments_per_second: { lifecycle: rate('lifecycle'), bare: rate('bare'), ratio: fixed(rate('lifecycle') / rate('bare'), 3) },
    unloaded_latency_ms: Object.fromEntries(sides.map(({ name }) => [name, { p50: fixed(median(latencies[name]), 2), p95: fixed(percentile(latencies[name], 95), 2), runs: LATENCY_RUNS }])),
    per_moment: perMoment,
    machine: { cpus: cpus().length, node: process.version, load_average: fixed(loadavg()[0], 2) },
  };
  process.stdout.write(`\n${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(resolve(ROOT, 'bench/orchestration.results.json'), `${JSON.stringify(summary, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    process.stderr.write(`benchmark failed: ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
