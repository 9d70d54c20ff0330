import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { describeFfmpeg } from '@mcm/audio';
import { loadConfigOrExit, logLevels, migrate, StorageRepository } from '@mcm/core';
import { selectedStages, WorkerModule } from './worker.module';

async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit();
  let stages: string[];
  try {
    stages = selectedStages(config);
  } catch (error) {
    process.stderr.write(`Invalid configuration: ${(error as Error).message}\n`);
    process.exit(1);
  }
  await migrate(config.DATABASE_URL);
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config), { logger: logLevels(config.LOG_LEVEL) });
  // Shutdown hooks let BullMQ finish the jobs in hand before the process exits.
  app.enableShutdownHooks();
  await app.get(StorageRepository).ensureBucket();
  new Logger('Audio').log(`rendering with ${describeFfmpeg()}`);
  process.stdout.write(`worker ready (stages: ${stages.join(', ')})\n`);
}

bootstrap().catch((error: Error) => {
  new Logger('worker').error(`worker failed to start: ${error.message}`);
  process.exit(1);
});
