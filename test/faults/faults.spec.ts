import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { redisOptions, stageQueueName, storageFromConfig, type StorageRepository } from '@mcm/core';
import { awaitedRuns, stageJobId, STAGES, type PersistedMoment, type Stage } from '@mcm/pipeline';
import { startStack, type Stack } from '../../scripts/stack';
import { packAndInstallSdk } from '../sdk/pack-sdk';
import { freePort } from '../support/free-port';
import { RedisServer } from '../support/redis-server';
import { createTestEnv, type TestEnv } from '../support/test-env';

type Sdk = typeof import('@main-character/sdk');
type Moment = import('@main-character/sdk').Moment;

/**
 * The stack under crashes, lost queues, outages and dropped connections. `npm test` runs the
 * short profile; `npm run test:faults` runs the full one (100+ moments, 30 s outages).
 */
const FULL = process.env.FAULTS_PROFILE === 'full';
const PROFILE = FULL
  ? { moments: 100, workers: 3, outageMs: 30_000, createEveryMs: 400, workerKills: 6, deadlineMs: 600_000 }
  : { moments: 12, workers: 2, outageMs: 4_000, createEveryMs: 500, workerKills: 2, deadlineMs: Number(process.env.FAULTS_DEADLINE_MS ?? 240_000) };
const RECONCILE_INTERVAL_MS = 3_000;
const FIXTURE = resolve(__dirname, '../fixtures/hum-phone.m4a');
const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELED']);

interface FaultRecord {
  fault: string;
  startedS: number;
  durationS: number;
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

describe(`fault suite (${FULL ? 'full' : 'short'} profile)`, () => {
  let testEnv: TestEnv;
  let redis: RedisServer;
  let stack: Stack;
  let sdk: Sdk;
  let storage: StorageRepository;
  const logs: string[] = [];

  beforeAll(async () => {
    const installed = await packAndInstallSdk();
    sdk = installed.require('@main-character/sdk') as Sdk;
    redis = new RedisServer(await freePort());
    await redis.start();
    testEnv = await createTestEnv({
      REDIS_URL: redis.url,
      MCP_HTTP_PORT: String(await freePort()),
      RECONCILE_INTERVAL_MS: String(RECONCILE_INTERVAL_MS),
      WORKER_LOCK_MS: '6000',
      WORKER_STALLED_INTERVAL_MS: '3000',
      LOG_LEVEL: 'log',
    });
    storage = storageFromConfig(testEnv.config);
    stack = await startStack({ env: testEnv.env, workers: PROFILE.workers, log: (app, line) => logs.push(`[${app}] ${line}`) });
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
    const logFile = join(tmpdir(), `mcm-faults-${Date.now()}.log`);
    writeFileSync(logFile, `${logs.join('\n')}\n`);
    process.stdout.write(`stack logs: ${logFile}\n`);
    storage?.destroy();
    await testEnv?.cleanup();
    await redis?.stop();
  });

  it(
    'completes every moment exactly once through crashes, lost queues and outages',
    async () => {
      const client = new sdk.MomentsClient({ baseUrl: stack.apiUrl });
      const started = Date.now();
      const at = () => (Date.now() - started) / 1000;
      const faults: FaultRecord[] = [];
      const record = async (fault: string, action: () => Promise<void>) => {
        const begin = at();
        await action();
        faults.push({ fault, startedS: Math.round(begin * 10) / 10, durationS: Math.round((at() - begin) * 10) / 10 });
      };

      const killWorker = async () => {
        const workers = stack.apps.filter((app) => app.name.startsWith('worker'));
        const victim = workers[Math.floor(Math.random() * workers.length)];
        victim.child.kill('SIGKILL');
        await sleep(500);
        await stack.restart(victim.name);
      };

      const injectFaults = async () => {
        const spacing = (PROFILE.moments * PROFILE.createEveryMs) / 6;
        await sleep(spacing / 2);
        await record('SIGKILL a worker, start it again', killWorker);
        await sleep(spacing / 2);
        await record('Redis: FLUSHALL, stop, start empty', async () => {
          await redis.flushAll();
          await redis.stop();
          await sleep(1_000);
          await redis.start();
        });
        await record('SIGKILL a worker, start it again', killWorker);
        await record(`music-tools down ${PROFILE.outageMs / 1000} s`, async () => {
          const musicTools = stack.apps.find((app) => app.name === 'music-tools')!;
          musicTools.child.kill('SIGKILL');
          await sleep(PROFILE.outageMs);
          await stack.restart('music-tools');
        });
        await record('Postgres: terminate every connection', async () => {
          const admin = new Client({ connectionString: testEnv.config.DATABASE_URL });
          await admin.connect();
          await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
          await admin.end();
        });
        await record(`storage down ${PROFILE.outageMs / 1000} s`, async () => {
          await testEnv.stopStorage();
          await sleep(PROFILE.outageMs);
          await testEnv.startStorage();
        });
        for (let i = 2; i < PROFILE.workerKills; i++) {
          await sleep(1_000 + Math.random() * 2_000);
          await record('SIGKILL a worker, start it again', killWorker);
        }
      };

      // A client that retries its create with the same Idempotency-Key until the service answers.
      const create = async (index: number): Promise<string> => {
        const key = `fault-${index}-${randomUUID()}`;
        const deadline = Date.now() + PROFILE.deadlineMs;
        for (;;) {
          try {
            return (await client.createMoment(FIXTURE, { idempotencyKey: key, style: ['cinematic', 'anthem', 'lofi', 'synthwave'][index % 4] })).id;
          } catch (error) {
            const status = (error as { status?: number }).status;
            if ((status !== undefined && status < 500 && status !== 429) || Date.now() > deadline) throw error;
            await sleep(500);
          }
        }
      };

      const orphans = watchForOrphans(testEnv.config.DATABASE_URL, redis.url, testEnv.config.QUEUE_PREFIX);
      const creations: Promise<string>[] = [];
      const faultsDone = injectFaults();
      for (let i = 0; i < PROFILE.moments; i++) {
        creations.push(create(i));
        await sleep(PROFILE.createEveryMs);
      }
      const ids = await Promise.all(creations);
      await faultsDone;
      const faultsEndedS = at();

      const finished = new Map<string, Moment>();
      const deadline = Date.now() + PROFILE.deadlineMs;
      while (finished.size < ids.length && Date.now() < deadline) {
        for (const id of ids.filter((candidate) => !finished.has(candidate))) {
          const moment = await client.getMoment(id).catch(() => null);
          if (moment && TERMINAL.has(moment.status)) finished.set(id, moment);
        }
        await sleep(500);
      }
      const settledS = at();
      const stuck: string[] = [];
      for (const id of ids.filter((candidate) => !finished.has(candidate))) {
        const db = new Client({ connectionString: testEnv.config.DATABASE_URL });
        await db.connect();
        const { rows } = await db.query<{ snapshot: PersistedMoment; status: string }>('SELECT status, snapshot FROM moments WHERE id = $1', [id]);
        await db.end();
        stuck.push(`${id} ${rows[0]?.status}: ${await orphans.describe(id, rows[0].snapshot)}`);
      }
      const longestOrphanMs = await orphans.stop();
      if (stuck.length) process.stdout.write(`\nStill in flight:\n${stuck.join('\n')}\n`);

      const db = new Client({ connectionString: testEnv.config.DATABASE_URL });
      await db.connect();
      const { rows: applied } = await db.query<{ moment_id: string; stage: string; applied: number; offered: number }>(
        `SELECT moment_id, stage, count(*) FILTER (WHERE applied)::int AS applied, count(*)::int AS offered
         FROM moment_transitions WHERE event_type = 'STAGE_SUCCEEDED' GROUP BY moment_id, stage`,
      );
      const { rows: statuses } = await db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM moments GROUP BY status');
      const { rows: assetRows } = await db.query<{ id: string; assets: Record<string, string> }>('SELECT id, assets FROM moments WHERE id = ANY($1)', [ids]);
      await db.end();

      let strayObjects = 0;
      let missingAssets = 0;
      for (const { id, assets } of assetRows) {
        const stored = new Set(await storage.listKeys(`moments/${id}/`));
        const expected = new Set(Object.values(assets));
        for (const key of stored) if (!expected.has(key)) strayObjects += 1;
        for (const key of expected) if (!stored.has(key)) missingAssets += 1;
      }

      const completed = [...finished.values()].filter((moment) => moment.status === 'COMPLETED');
      const latencies = completed.map((moment) => new Date(moment.completed_at!).getTime() - new Date(moment.created_at).getTime()).sort((a, b) => a - b);
      const appliedTwice = applied.filter((row) => row.applied > 1).length;
      const duplicatesIgnored = applied.reduce((sum, row) => sum + (row.offered - row.applied), 0);
      const revived = logs.filter((line) => line.includes('re-enqueued')).length;
      const figures = {
        moments: ids.length,
        completed: completed.length,
        failed: [...finished.values()].filter((moment) => moment.status === 'FAILED').length,
        'still in flight': ids.length - finished.size,
        'stage results applied twice': appliedTwice,
        'duplicate results ignored': duplicatesIgnored,
        'runs re-enqueued by the reconciler': revived,
        "objects not in a moment's assets": strayObjects,
        'assets missing from storage': missingAssets,
        'latency p50 (s)': Math.round((latencies[Math.floor(latencies.length / 2)] ?? 0) / 100) / 10,
        'latency max (s)': Math.round((latencies.at(-1) ?? 0) / 100) / 10,
        'all settled after the last fault (s)': Math.round((settledS - faultsEndedS) * 10) / 10,
        'longest a moment had no live queue message (s)': Math.round(longestOrphanMs / 100) / 10,
      };
      process.stdout.write(
        `\nFaults injected\n${formatTable(
          faults.map((fault) => [fault.fault, `${fault.startedS} s`, `${fault.durationS} s`]),
          ['fault', 'at', 'lasted'],
        )}`,
      );
      process.stdout.write(
        `\nOutcome\n${formatTable(
          Object.entries(figures).map(([name, value]) => [name, String(value)]),
          ['figure', 'value'],
        )}\n`,
      );
      process.stdout.write(`moments by status in Postgres: ${statuses.map((row) => `${row.status} ${row.n}`).join(', ')}\n`);

      const failures = [...finished.values()].filter((moment) => moment.status !== 'COMPLETED');
      expect(failures.map((moment) => `${moment.id} ${moment.status} ${JSON.stringify(moment.error)}`)).toEqual([]);
      expect(figures['still in flight']).toBe(0);
      expect(completed).toHaveLength(PROFILE.moments);
      expect(appliedTwice).toBe(0);
      // Lost messages are found by the reconciler: a moment is stale after one interval, found by the next pass.
      expect(longestOrphanMs).toBeLessThanOrEqual(2 * RECONCILE_INTERVAL_MS + 5_000);
      expect(strayObjects).toBe(0);
      expect(missingAssets).toBe(0);
      for (const moment of completed) expect(Object.keys(moment.assets ?? {}).length).toBeGreaterThanOrEqual(5);
    },
    PROFILE.deadlineMs * 2 + 120_000,
  );
});

/**
 * Samples, once a second, whether every in-flight moment has a live queue message (waiting,
 * delayed or running) for each stage run it awaits, and records how long each went without one.
 */
function watchForOrphans(databaseUrl: string, redisUrl: string, prefix: string) {
  const queues = new Map<Stage, Queue>(STAGES.map((stage) => [stage, new Queue(stageQueueName(stage), { connection: redisOptions(redisUrl), prefix })]));
  const orphanSince = new Map<string, number>();
  let longestMs = 0;
  let stopped = false;
  const live = async (id: string, snapshot: PersistedMoment): Promise<boolean> => {
    for (const run of awaitedRuns(snapshot)) {
      const job = await queues.get(run.stage)!.getJob(stageJobId(id, run));
      const state = job ? await job.getState() : 'missing';
      if (!['waiting', 'delayed', 'active', 'prioritized', 'waiting-children'].includes(state)) return false;
    }
    return true;
  };
  const sample = async () => {
    const db = new Client({ connectionString: databaseUrl });
    // The suite itself terminates every connection; this sample then simply fails.
    db.on('error', () => undefined);
    try {
      await db.connect();
      const { rows } = await db.query<{ id: string; snapshot: PersistedMoment }>("SELECT id, snapshot FROM moments WHERE status NOT IN ('COMPLETED', 'FAILED', 'CANCELED')");
      const now = Date.now();
      const inFlight = new Set(rows.map((row) => row.id));
      for (const id of orphanSince.keys()) if (!inFlight.has(id)) orphanSince.delete(id);
      for (const row of rows) {
        // Redis down counts as no message: it is the reconciler's job to recover from that too.
        const ok = await Promise.race([live(row.id, row.snapshot), sleep(800).then(() => false)]).catch(() => false);
        if (ok) orphanSince.delete(row.id);
        else if (!orphanSince.has(row.id)) orphanSince.set(row.id, now);
      }
      for (const since of orphanSince.values()) longestMs = Math.max(longestMs, now - since);
    } catch {
      // Postgres dropped this sample's connection; the next sample reconnects.
    } finally {
      await db.end().catch(() => undefined);
    }
  };
  const loop = (async () => {
    while (!stopped) {
      await sample();
      await sleep(1_000);
    }
  })();
  return {
    /** Where the awaited runs of a moment stand in the queues: for a report on moments still in flight. */
    async describe(id: string, snapshot: PersistedMoment): Promise<string> {
      const states = await Promise.all(
        awaitedRuns(snapshot).map(async (run) => {
          const job = await queues.get(run.stage)!.getJob(stageJobId(id, run));
          return `${stageJobId(id, run)}=${job ? await job.getState() : 'missing'}`;
        }),
      );
      return states.join(', ');
    },
    async stop(): Promise<number> {
      stopped = true;
      await loop;
      await Promise.all([...queues.values()].map((queue) => queue.close().catch(() => undefined)));
      return longestMs;
    },
  };
}

function formatTable(rows: string[][], header: string[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => row[column].length)));
  const line = (row: string[]) => `| ${row.map((cell, column) => cell.padEnd(widths[column])).join(' | ')} |`;
  return [line(header), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...rows.map(line)].join('\n') + '\n';
}
