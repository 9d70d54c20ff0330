import { writeFileSync } from 'node:fs';
import { get, type ClientRequest } from 'node:http';
import { resolve } from 'node:path';
import { MomentsClient } from '@main-character/sdk';
import { ROOT, startStack } from '../scripts/stack';
import { benchEnvironment } from './bench-environment';
import { processCpuMs } from './process-cpu';

/**
 * CPU of one api process over SECONDS with no stream open, then with STREAMS idle live-event
 * streams open (spread over MOMENTS moments that never change: no worker runs). Heartbeats and
 * the periodic history check run at their defaults (15 s, 30 s).
 */
const STREAMS = Number(process.env.BENCH_STREAMS ?? 1000);
const MOMENTS = Number(process.env.BENCH_MOMENTS ?? 100);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
const INPUT = resolve(ROOT, 'test/fixtures/hum-phone.m4a');

/** utime + stime of a process, in seconds. */
const cpuSeconds = (pid: number): number => processCpuMs(pid).own / 1000;

async function measure(pid: number): Promise<number> {
  const before = cpuSeconds(pid);
  await new Promise((done) => setTimeout(done, SECONDS * 1000));
  return ((cpuSeconds(pid) - before) / SECONDS) * 100;
}

async function main(): Promise<void> {
  const { env, remove } = benchEnvironment({ RATE_LIMIT_CREATE_PER_MINUTE: '100000' });
  const stack = await startStack({ env, workers: 0, log: (app, line) => /error/i.test(line) && process.stderr.write(`[${app}] ${line}\n`) });
  const api = stack.apps.find((app) => app.kind === 'api')!;
  const client = new MomentsClient({ baseUrl: stack.apiUrl });
  const requests: ClientRequest[] = [];
  try {
    const ids: string[] = [];
    for (let i = 0; i < MOMENTS; i++) ids.push((await client.createMoment(INPUT)).id);
    await new Promise((done) => setTimeout(done, 3000));

    const idle = await measure(api.child.pid!);
    process.stdout.write(`0 streams: ${idle.toFixed(2)} % of a core\n`);

    let open = 0;
    await new Promise<void>((done, fail) => {
      for (let i = 0; i < STREAMS; i++) {
        const request = get(`${stack.apiUrl}/v1/moments/${ids[i % ids.length]}/events`, (response) => {
          if (response.statusCode !== 200) fail(new Error(`stream answered ${response.statusCode}`));
          response.resume();
          if (++open === STREAMS) done();
        });
        request.on('error', fail);
        requests.push(request);
      }
    });
    // Opening replays each moment's history; measure the idle state after it.
    await new Promise((done) => setTimeout(done, 3000));
    const streaming = await measure(api.child.pid!);
    process.stdout.write(`${STREAMS} idle streams on ${MOMENTS} moments: ${streaming.toFixed(2)} % of a core\n`);
    const summary = {
      streams: STREAMS,
      moments: MOMENTS,
      seconds: SECONDS,
      cpu_percent: { no_streams: round(idle), idle_streams: round(streaming), added: round(streaming - idle) },
      ratio: idle > 0 ? round(streaming / idle) : null,
    };
    writeFileSync(resolve(ROOT, 'bench/sse-idle.results.json'), `${JSON.stringify(summary, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    for (const request of requests) request.destroy();
    await stack.stop();
    await remove();
  }
}

const round = (value: number) => Math.round(value * 100) / 100;

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exit(1);
});
