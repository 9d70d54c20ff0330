import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../scripts/stack';
import { benchEnvironment } from './bench-environment';

/**
 * Cold start: from spawning `node dist/scripts/start.js` (embedded storage, music-tools, a worker,
 * the api; a fresh database each run, so migrations are part of it) to the first `/readyz` that
 * answers 200, and to the line that says the whole stack runs. Median of RUNS.
 */
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

async function ready(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

async function coldStart(): Promise<{ readyzMs: number; runningMs: number }> {
  const port = await freePort();
  const { env, remove } = benchEnvironment({ PORT: String(port) });
  const started = performance.now();
  const child = spawn(process.execPath, [join(ROOT, 'dist/scripts/start.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let runningMs = 0;
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    if (!runningMs && output.includes('Main Character Moment is running')) runningMs = performance.now() - started;
  });
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit');
  try {
    let readyzMs = 0;
    while (!readyzMs) {
      if (child.exitCode !== null) throw new Error(`the stack stopped before it was ready:\n${output.slice(-2000)}`);
      if (performance.now() - started > 180_000) throw new Error(`not ready within 180 s:\n${output.slice(-2000)}`);
      if (await ready(`http://127.0.0.1:${port}/readyz`)) readyzMs = performance.now() - started;
      else await new Promise((resolve) => setTimeout(resolve, 20));
    }
    while (!runningMs && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 20));
    return { readyzMs, runningMs };
  } finally {
    child.kill('SIGTERM');
    await exited;
    await remove();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];

async function main(): Promise<void> {
  const runs: { readyzMs: number; runningMs: number }[] = [];
  for (let i = 0; i < RUNS; i++) {
    const run = await coldStart();
    runs.push(run);
    process.stdout.write(`run ${i + 1}/${RUNS}: /readyz 200 after ${Math.round(run.readyzMs)} ms, stack running after ${Math.round(run.runningMs)} ms\n`);
  }
  const summary = {
    runs: RUNS,
    readyz_ms: { median: Math.round(median(runs.map((r) => r.readyzMs))), each: runs.map((r) => Math.round(r.readyzMs)) },
    running_ms: { median: Math.round(median(runs.map((r) => r.runningMs))), each: runs.map((r) => Math.round(r.runningMs)) },
    machine: { cpus: cpus().length, node: process.version, load_average: Number(loadavg()[0].toFixed(2)) },
  };
  process.stdout.write(`\n${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(join(ROOT, 'bench/cold-start.results.json'), `${JSON.stringify(summary, null, 2)}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`benchmark failed: ${error.message}\n`);
  process.exit(1);
});
