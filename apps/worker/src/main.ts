import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { configureAudioEngine } from '@mcm/audio';
import { loadConfigOrExit, logLevels, migrate, StorageRepository } from '@mcm/core';
import type { Stage } from '@mcm/pipeline';
import { stageConcurrency } from './stage.processors';
import { selectedStages, WorkerModule } from './worker.module';

async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit();
  let stages: Stage[];
  try {
    stages = selectedStages(config);
  } catch (error) {
    process.stderr.write(`Invalid configuration: ${(error as Error).message}\n`);
    process.exit(1);
  }
  configureAudioEngine({ maxRenderSeconds: config.MAX_RENDER_SECONDS });
  await migrate(config.DATABASE_URL);
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config), { logger: logLevels(config.LOG_LEVEL) });
  // Shutdown hooks let BullMQ finish the jobs in hand before the process exits.
  app.enableShutdownHooks();
  await app.get(StorageRepository).ensureBucket();
  process.stdout.write(`worker ready (stages: ${stages.map((stage) => `${stage}×${stageConcurrency(config, stage)}`).join(', ')})\n`);
}

bootstrap().catch((error: Error) => {
  new Logger('worker').error(`worker failed to start: ${error.message}`);
  process.exit(1);
});
