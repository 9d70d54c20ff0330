import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { ConsoleLogger, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { StorageRepository, loadConfigOrExit, migrate } from '@mcm/core';
import { ApiModule, configureApi } from './api.module';

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/** Logs go to stderr: stdout carries only the "listening" line other processes wait for. */
class StderrLogger extends ConsoleLogger {
  protected override printMessages(messages: unknown[], context?: string, logLevel?: LogLevel, _stream?: 'stdout' | 'stderr', errorStack?: unknown): void {
    super.printMessages(messages, context, logLevel, 'stderr', errorStack);
  }
}

async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit();
  await migrate(config.DATABASE_URL);
  const logger = new StderrLogger('api', { logLevels: LEVELS.slice(0, LEVELS.indexOf(config.LOG_LEVEL) + 1) });
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(config), { logger });
  app.disable('x-powered-by');
  configureApi(app, config);
  await app.get(StorageRepository).ensureBucket();
  await app.listen(config.PORT, config.HOST);
  const { port } = app.getHttpServer().address() as AddressInfo;
  process.stdout.write(`api listening on http://127.0.0.1:${port}\n`);
}

bootstrap().catch((error: Error) => {
  process.stderr.write(`api failed to start: ${error.message}\n`);
  process.exit(1);
});
