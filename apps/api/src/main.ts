import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import { describeFfmpeg } from '@mcm/audio';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { StorageRepository, loadConfigOrExit, logLevels, migrate, redactSecrets, secretValues, type AppConfig } from '@mcm/core';
import { ApiModule, configureApi } from './api.module';
import { ApiLogger } from './logging/api-logger';

let config: AppConfig | undefined;

async function bootstrap(): Promise<void> {
  config = loadConfigOrExit();
  await migrate(config.DATABASE_URL);
  const logger = new ApiLogger('api', { logLevels: logLevels(config.LOG_LEVEL) }, secretValues(config));
  logger.log(`decoding uploads with ${describeFfmpeg()}`, 'Audio');
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(config), { logger });
  configureApi(app, config);
  await app.get(StorageRepository).ensureBucket();
  await app.listen(config.PORT, config.HOST);
  const { port } = app.getHttpServer().address() as AddressInfo;
  process.stdout.write(`api listening on http://127.0.0.1:${port}\n`);
}

bootstrap().catch((error: Error) => {
  process.stderr.write(`api failed to start: ${redactSecrets(error.message, config ? secretValues(config) : [])}\n`);
  process.exit(1);
});
