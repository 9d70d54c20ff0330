import { availableParallelism } from 'node:os';
import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, Logger, type Type } from '@nestjs/common';
import type { Job, WorkerOptions } from 'bullmq';
import { stageQueueName, type WorkerConfig } from '@mcm/core';
import type { Stage, StageJobData } from '@mcm/pipeline';
import { StageRunner } from './stage-runner.service';

/** Stages that keep a core busy in this process (ffmpeg, DSP threads); the others wait on music-tools or take milliseconds. */
const CPU_STAGES: ReadonlySet<Stage> = new Set<Stage>(['analyze', 'render_vocals', 'render_instrumental']);
/** Jobs a light stage runs at once by default, whatever the machine. */
export const LIGHT_STAGE_CONCURRENCY = 2;

/** Jobs of `stage` one worker process runs at once: `WORKER_CONCURRENCY` when set, else one per core for CPU-heavy stages. */
export function stageConcurrency(config: Pick<WorkerConfig, 'WORKER_CONCURRENCY'>, stage: Stage, cores = availableParallelism()): number {
  if (config.WORKER_CONCURRENCY !== undefined) return config.WORKER_CONCURRENCY;
  return CPU_STAGES.has(stage) ? cores : LIGHT_STAGE_CONCURRENCY;
}

/**
 * Queue settings for every stage, in one place. The lock is renewed while a job runs (the
 * event loop stays free: heavy work runs in threads and child processes), so a live render is
 * never taken over; a job whose worker died is picked up again once its lock lapses.
 */
export function stageWorkerOptions(config: WorkerConfig, stage: Stage): Partial<WorkerOptions> {
  return {
    concurrency: stageConcurrency(config, stage),
    lockDuration: config.WORKER_LOCK_MS,
    stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
    maxStalledCount: 3,
  };
}

abstract class StageProcessor extends WorkerHost {
  private readonly logger = new Logger(this.constructor.name);

  // Explicit: the processors are subclasses made at run time, without metadata of their own.
  constructor(@Inject(StageRunner) private readonly runner: StageRunner) {
    super();
  }

  process(job: Job<StageJobData>): Promise<void> {
    return this.runner.run(job.data);
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job<StageJobData> | undefined, error: Error): void {
    this.logger.warn(`job ${job?.id} failed: ${error.message}`);
  }
}

/** A processor class for one stage's queue, with the worker options of this deployment. */
export function stageProcessor(stage: Stage, options: Partial<WorkerOptions>): Type<StageProcessor> {
  @Processor(stageQueueName(stage), options)
  class Processor_ extends StageProcessor {}
  Object.defineProperty(Processor_, 'name', { value: `${stage.replace(/(^|_)(\w)/g, (_, __, c: string) => c.toUpperCase())}Processor` });
  return Processor_;
}
