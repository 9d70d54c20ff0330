import { EventEmitter } from 'node:events';
import type { NextFunction, Request, Response } from 'express';
import { AppMetrics, observeHttp } from '@mcm/core';
import { STAGES } from '@mcm/pipeline';

/**
 * What metrics cost on the hot path, in CPU time of this process (steadier than wall time on a shared
 * machine): the HTTP observer per request (tracing off, as without OTEL_EXPORTER_OTLP_ENDPOINT), a
 * stage observation, and rendering a full `/metrics` answer with the process metrics and every series.
 */
const N = Number(process.env.BENCH_REQUESTS ?? 200_000);
const ROUNDS = 3;

const cpuMicros = (work: () => void, times: number): number => {
  const start = process.cpuUsage();
  for (let i = 0; i < times; i++) work();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / times;
};

async function main(): Promise<void> {
  const metrics = new AppMetrics();
  metrics.collectProcessMetrics();
  const observe = observeHttp(metrics);
  const next: NextFunction = () => undefined;
  const request = { method: 'GET', baseUrl: '', route: { path: '/v1/moments/:id' } } as unknown as Request;
  // What every request costs anyway: a response that emits close.
  const bare = () => {
    const response = Object.assign(new EventEmitter(), { statusCode: 200 });
    response.emit('close');
  };
  const observed = () => {
    const response = Object.assign(new EventEmitter(), { statusCode: 200 });
    observe(request, response as unknown as Response, next);
    response.emit('close');
  };
  for (let round = 1; round <= ROUNDS; round++) {
    const base = cpuMicros(bare, N);
    const withMetrics = cpuMicros(observed, N);
    const stage = cpuMicros(() => metrics.observeStage(STAGES[round % STAGES.length], 'succeeded', 0.5), N);
    const scrapeStart = process.cpuUsage();
    const { body } = await metrics.exposition();
    const scrape = process.cpuUsage(scrapeStart);
    process.stdout.write(
      `round ${round}: HTTP observer +${(withMetrics - base).toFixed(2)} µs CPU per request; stage observation ${stage.toFixed(2)} µs; ` +
        `/metrics render ${((scrape.user + scrape.system) / 1000).toFixed(1)} ms CPU for ${body.length} bytes\n`,
    );
  }
}

main().catch((error: Error) => {
  process.stderr.write(`benchmark failed: ${error.message}\n`);
  process.exit(1);
});
