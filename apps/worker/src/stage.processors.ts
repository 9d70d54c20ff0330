import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, Logger, type OnApplicationBootstrap, type Type } from '@nestjs/common';
import type { Job } from 'bullmq';
import { APP_CONFIG, stageQueueName, type AppConfig } from '@mcm/core';
import type { Stage, StageJobData } from '@mcm/pipeline';
import { StageRunner } from './stage-runner.service';

/**
 * Queue settings for every stage, in one place. A lock outlives the longest render and is
 * renewed while the job runs; a job whose worker died is taken over once its lock lapses.
 */
export const STAGE_WORKER_OPTIONS = {
  lockDuration: 60_000,
  stalledInterval: 30_000,
  maxStalledCount: 3,
} as const;

abstract class StageProcessor extends WorkerHost implements OnApplicationBootstrap {
  private readonly logger = new Logger(this.constructor.name);

  constructor(
    private readonly runner: StageRunner,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    this.worker.concurrency = this.config.WORKER_CONCURRENCY;
  }

  process(job: Job<StageJobData>): Promise<void> {
    return this.runner.run(job.data);
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job<StageJobData> | undefined, error: Error): void {
    this.logger.warn(`job ${job?.id} failed: ${error.message}`);
  }
}

function processorFor(stage: Stage): Type<StageProcessor> {
  @Processor(stageQueueName(stage), STAGE_WORKER_OPTIONS)
  class Processor_ extends StageProcessor {}
  Object.defineProperty(Processor_, 'name', { value: `${stage.replace(/(^|_)(\w)/g, (_, __, c: string) => c.toUpperCase())}Processor` });
  return Processor_;
}

export const STAGE_PROCESSORS: Record<Stage, Type<StageProcessor>> = {
  analyze: processorFor('analyze'),
  compose: processorFor('compose'),
  validate: processorFor('validate'),
  render_vocals: processorFor('render_vocals'),
  render_instrumental: processorFor('render_instrumental'),
  mix: processorFor('mix'),
};
