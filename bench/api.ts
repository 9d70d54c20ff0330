import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { MomentsClient } from '@main-character/sdk';
import { ROOT, startStack, stopApp } from '../scripts/stack';
import { benchEnvironment } from './bench-environment';
import { processCpuMs } from './process-cpu';

/**
 * Reads of a COMPLETED moment against a bare NestJS route answering a body of the same size, with
 * autocannon at CONNECTIONS connections, alternating target by target over ROUNDS rounds of SECONDS
 * each, in one run: `GET /v1/moments/{id}`, the same with `If-None-Match` (a status poll that
 * saw no change), and the bare route. The api logs at LOG_LEVEL (`log` unless set), as deployed.
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const INPUT = resolve(ROOT, 'test/fixtures/hum-phone.m4a');

interface Target {
  name: string;
  url: string;
  headers: Record<string, string>;
  /** The process answering, whose CPU is counted. */
  pid: number;
}

interface Round {
  requests: number;
  seconds: number;
  p50: number;
  p99: number;
  cpuSeconds: number;
  statusCodes: Record<string, number>;
  errors: number;
}

/** utime + stime of a process, in seconds. */
const cpuSeconds = (pid: number): number => processCpuMs(pid).own / 1000;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function load(target: Target, seconds: number): Promise<Round> {
  const cpuBefore = cpuSeconds(target.pid);
  const result = await autocannon({ url: target.url, connections: CONNECTIONS, duration: seconds, headers: target.headers });
  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, { count }]) => [code, count]));
  return {
    requests: result.requests.total,
    seconds: result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuSeconds: cpuSeconds(target.pid) - cpuBefore,
    statusCodes,
    errors: result.errors + result.timeouts,
  };
}

/** Starts the bare route as its own process, as the api is, and resolves with its URL once it listens. */
async function startBareRoute(bodyFile: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [join(__dirname, 'bare-route.js')], { env: { ...process.env, BARE_BODY_FILE: bodyFile }, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const exited = once(child, 'exit').then(() => Promise.reject(new Error('the bare route exited before it listened')));
  const [line] = (await Promise.race([once(lines, 'line'), exited])) as [string];
  return { child, url: `${/listening on (\S+)/.exec(line)![1]}/moment` };
}

async function main(): Promise<void> {
  const { env, remove } = benchEnvironment({ LOG_LEVEL: process.env.LOG_LEVEL ?? 'log' });
  const stack = await startStack({ env, log: (app, line) => /"level":"(error|fatal)"/.test(line) && process.stderr.write(`[${app}] ${line}\n`) });
  const scratch = mkdtempSync(join(tmpdir(), 'mcm-bench-api-'));
  let bare: ChildProcess | undefined;
  try {
    const client = new MomentsClient({ baseUrl: stack.apiUrl });
    const created = await client.createMoment(INPUT, { style: 'cinematic' });
    const moment = await client.waitForMoment(created.id, { timeoutMs: 120_000 });
    if (moment.status !== 'COMPLETED') throw new Error(`the moment ended ${moment.status}`);
    // Only the api serves reads: the rest of the stack would only share the cores.
    for (const app of stack.apps.filter((running) => running.kind !== 'api')) await stopApp(app);
    const api = stack.apps.find((running) => running.kind === 'api')!;

    const momentUrl = `${stack.apiUrl}/v1/moments/${moment.id}`;
    const first = await fetch(momentUrl);
    const body = await first.text();
    const etag = first.headers.get('etag');
    writeFileSync(join(scratch, 'body.json'), body);
    const started = await startBareRoute(join(scratch, 'body.json'));
    bare = started.child;
    const bareBytes = (await (await fetch(started.url)).text()).length;

    const targets: Target[] = [
      { name: 'bare NestJS route', url: started.url, headers: {}, pid: bare.pid! },
      { name: 'GET /v1/moments/{id}', url: momentUrl, headers: {}, pid: api.child.pid! },
    ];
    if (etag) targets.push({ name: 'GET /v1/moments/{id}, If-None-Match', url: momentUrl, headers: { 'if-none-match': etag }, pid: api.child.pid! });
    process.stdout.write(`body: api ${body.length} bytes, bare ${bareBytes} bytes; ETag ${etag ?? 'none'}\n`);

    for (const target of targets) await load(target, 2); // warm-up, not counted
    const rounds = new Map<string, Round[]>(targets.map((target) => [target.name, []]));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const target of targets) {
        const result = await load(target, SECONDS);
        rounds.get(target.name)!.push(result);
        process.stdout.write(`round ${round}/${ROUNDS} ${target.name}: ${Math.round(result.requests / result.seconds)} rps, p50 ${result.p50} ms, p99 ${result.p99} ms\n`);
      }
    }

    const figures = targets.map((target) => {
      const results = rounds.get(target.name)!;
      const requests = results.reduce((sum, r) => sum + r.requests, 0);
      const statusCodes: Record<string, number> = {};
      for (const r of results) for (const [code, count] of Object.entries(r.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + count;
      return {
        target: target.name,
        rps: Math.round(requests / results.reduce((sum, r) => sum + r.seconds, 0)),
        p50_ms: median(results.map((r) => r.p50)),
        p99_ms: median(results.map((r) => r.p99)),
        cpu_us_per_request: Math.round((results.reduce((sum, r) => sum + r.cpuSeconds, 0) / requests) * 1e6),
        status_codes: statusCodes,
        errors: results.reduce((sum, r) => sum + r.errors, 0),
      };
    });
    const bareRps = figures[0].rps;
    const summary = {
      rounds: ROUNDS,
      seconds_per_round: SECONDS,
      connections: CONNECTIONS,
      log_level: env.LOG_LEVEL,
      body_bytes: body.length,
      figures: figures.map((figure) => ({ ...figure, ratio_to_bare: Number((figure.rps / bareRps).toFixed(2)) })),
      machine: { cpus: cpus().length, node: process.version },
    };
    process.stdout.write(`\n${JSON.stringify(summary, null, 2)}\n`);
    writeFileSync(resolve(ROOT, 'bench/api.results.json'), `${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    if (bare && bare.exitCode === null) {
      bare.kill('SIGTERM');
      await once(bare, 'exit');
    }
    await stack.stop();
    await remove();
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  process.stderr.write(`benchmark failed: ${error.message}\n`);
  process.exit(1);
});
