import '@mcm/core/runtime/compile-cache';
import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { describeFfmpeg, startFfmpegLauncher, sweepWorkDirectories } from '@mcm/audio';
import { Logger } from 'nestjs-pino';
import type { Logger as PinoLogger } from 'pino';
import { AppMetrics, StorageRepository, createLogger, loadConfigOrExit, logProcessWarnings, metricsAccess, migrate, startTracing } from '@mcm/core';
import { ApiModule } from './api.module';
import { configureApi } from './http/server-setup';

/** Logs what happens before Nest's own logger is up: migrations and a failed start. */
let logger: PinoLogger | undefined;

async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit('api');
  logger = createLogger(config, 'api');
  logProcessWarnings(logger);
  if (await startTracing('api')) logger.info('exporting traces over OTLP/HTTP');
  await migrate(config.DATABASE_URL);
  const swept = await sweepWorkDirectories();
  if (swept.length) logger.info(`removed ${swept.length} work director${swept.length === 1 ? 'y' : 'ies'} left by stopped processes`);
  logger.info(`decoding uploads with ${describeFfmpeg()}`);
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(config), { bufferLogs: true });
  app.useLogger(app.get(Logger));
  app.get(AppMetrics).collectProcessMetrics();
  if (metricsAccess({ host: config.HOST, token: config.METRICS_TOKEN }, undefined) === 'hidden') logger.warn(`/metrics on ${config.HOST} answers 404 until METRICS_TOKEN is set`);
  if (!configureApi(app, config)) logger.warn('the page is not built (npm run build writes dist/web); / answers 404');
  await app.get(StorageRepository).ensureBucket();
  await app.listen(config.PORT, config.HOST);
  const { port } = app.getHttpServer().address() as AddressInfo;
  process.stdout.write(`api listening on http://127.0.0.1:${port}\n`);
  // Once ready, so it takes no CPU from the start; until it is up, ffmpeg runs start afresh or wait for it.
  logger.info(await startFfmpegLauncher());
}

bootstrap().catch((error: Error) => {
  (logger ?? createLogger({ LOG_LEVEL: 'log' }, 'api')).fatal({ err: error }, 'api failed to start');
  process.exit(1);
});
