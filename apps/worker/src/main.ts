import '@mcm/core/runtime/compile-cache';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { configureAudioEngine, describeFfmpeg, startAudioWorkers, startFfmpegLauncher, sweepWorkDirectories } from '@mcm/audio';
import { Logger } from 'nestjs-pino';
import type { Logger as PinoLogger } from 'pino';
import { AppMetrics, createLogger, loadConfigOrExit, logProcessWarnings, metricsAccess, migrate, StageQueue, startMetricsServer, startTracing, StorageRepository } from '@mcm/core';
import type { Stage } from '@mcm/pipeline';
import { stageConcurrency } from './stage.processors';
import { selectedStages, WorkerModule } from './worker.module';

/** Logs what happens before Nest's own logger is up: migrations and a failed start. */
let logger: PinoLogger | undefined;

async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit('worker');
  logger = createLogger(config, 'worker');
  logProcessWarnings(logger);
  if (await startTracing('worker')) logger.info('exporting traces over OTLP/HTTP');
  let stages: Stage[];
  try {
    stages = selectedStages(config);
  } catch (error) {
    process.stderr.write(`Invalid configuration: ${(error as Error).message}\n`);
    process.exit(1);
  }
  const swept = await sweepWorkDirectories();
  if (swept.length) logger.info(`removed ${swept.length} work director${swept.length === 1 ? 'y' : 'ies'} left by stopped processes`);
  configureAudioEngine({ maxRenderSeconds: config.MAX_RENDER_SECONDS });
  // The render threads load the soundfont while the rest starts; the ready line waits for them, so the first moment renders as fast as the tenth.
  const audioReady = startAudioWorkers();
  await migrate(config.DATABASE_URL);
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config), { bufferLogs: true });
  app.useLogger(app.get(Logger));
  // Shutdown hooks let BullMQ finish the jobs in hand before the process exits.
  app.enableShutdownHooks();
  await app.get(StorageRepository).ensureBucket();
  const metrics = app.get(AppMetrics);
  metrics.collectProcessMetrics();
  const queues = app.get(StageQueue);
  metrics.watchQueues(() => Promise.all(stages.map((stage) => queues.depth(stage))));
  const gate = { host: config.WORKER_METRICS_HOST, token: config.METRICS_TOKEN };
  const metricsServer = await startMetricsServer(metrics, { ...gate, port: config.WORKER_METRICS_PORT });
  if (metricsAccess(gate, undefined) === 'hidden') logger.warn(`/metrics on ${config.WORKER_METRICS_HOST} answers 404 until METRICS_TOKEN is set`);
  await audioReady;
  logger.info(`rendering with ${describeFfmpeg()}`);
  const concurrency = stages.map((stage) => `${stage}×${stageConcurrency(config, stage)}`).join(', ');
  process.stdout.write(`worker ready (stages: ${concurrency}), metrics at ${metricsServer.url}\n`);
  // Once ready, so it takes no CPU from the start; until it is up, ffmpeg runs start afresh or wait for it.
  logger.info(await startFfmpegLauncher());
}

bootstrap().catch((error: Error) => {
  (logger ?? createLogger({ LOG_LEVEL: 'log' }, 'worker')).fatal({ err: error }, 'worker failed to start');
  process.exit(1);
});
