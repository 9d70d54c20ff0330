import { Injectable, Logger } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { STAGES, stageJobId, type Stage, type StageJobData, type StageRun } from '@mcm/pipeline';
import type { QueueDepth } from '../observability/metrics';
import { traceCarrier } from '../observability/tracing';

/** BullMQ queue name of a stage. */
export function stageQueueName(stage: Stage): string {
  return `stage-${stage.replace(/_/g, '-')}`;
}

/** Queues of finished jobs are kept for a while so that a repeated enqueue of the same id is a no-op. */
const RETAIN = { age: 24 * 3600, count: 10_000 };

/** Enqueues stage runs. Messages carry ids only; a job id is stable, so enqueueing twice is harmless. */
@Injectable()
export class StageQueue {
  private readonly logger = new Logger(StageQueue.name);
  private readonly queues = new Map<Stage, Queue<StageJobData>>();

  constructor(
    @InjectQueue(stageQueueName('analyze')) analyze: Queue<StageJobData>,
    @InjectQueue(stageQueueName('compose')) compose: Queue<StageJobData>,
    @InjectQueue(stageQueueName('validate')) validate: Queue<StageJobData>,
    @InjectQueue(stageQueueName('render_vocals')) renderVocals: Queue<StageJobData>,
    @InjectQueue(stageQueueName('render_instrumental')) renderInstrumental: Queue<StageJobData>,
    @InjectQueue(stageQueueName('mix')) mix: Queue<StageJobData>,
  ) {
    const queues = [analyze, compose, validate, renderVocals, renderInstrumental, mix];
    STAGES.forEach((stage, index) => this.queues.set(stage, queues[index]));
  }

  queue(stage: Stage): Queue<StageJobData> {
    return this.queues.get(stage)!;
  }

  async enqueue(momentId: string, run: StageRun): Promise<void> {
    const jobId = stageJobId(momentId, run);
    // Jitter spreads retries of many moments that failed together.
    const delay = run.delayMs > 0 ? Math.round(run.delayMs * (0.75 + Math.random() * 0.5)) : 0;
    // The trace of the work that asked for this run (a create request, the stage before) continues in the worker.
    const trace = traceCarrier();
    await this.queue(run.stage).add(
      run.stage,
      { momentId, stage: run.stage, run: run.run, attempt: run.attempt, ...(trace ? { trace } : {}) },
      // A stage's own failures are the machine's to retry; these attempts cover a worker that
      // could not report its result (Postgres unreachable), and rerun the idempotent stage.
      { jobId, delay, attempts: 4, backoff: { type: 'exponential', delay: 1_000 }, removeOnComplete: RETAIN, removeOnFail: RETAIN },
    );
    this.logger.debug(`enqueued ${jobId}${delay ? ` in ${delay} ms` : ''}`);
  }

  /** True when the run's message is still waiting, delayed or being worked on. */
  async isLive(momentId: string, run: StageRun): Promise<boolean> {
    const job = await this.queue(run.stage).getJob(stageJobId(momentId, run));
    if (!job) return false;
    const state = await job.getState();
    return state === 'waiting' || state === 'delayed' || state === 'active' || state === 'prioritized' || state === 'waiting-children';
  }

  /** Re-enqueues a run whose message was lost or ended without reporting back. */
  async revive(momentId: string, run: StageRun): Promise<void> {
    const queue = this.queue(run.stage);
    const job = await queue.getJob(stageJobId(momentId, run));
    if (job) await job.remove().catch(() => undefined);
    await this.enqueue(momentId, { ...run, delayMs: 0 });
  }

  /** Removes runs that have not started; a running one finishes and its result is ignored. */
  async removePending(momentId: string, runs: StageRun[]): Promise<void> {
    for (const run of runs) {
      const job = await this.queue(run.stage).getJob(stageJobId(momentId, run));
      // A locked (active) job refuses removal, which is what we want.
      if (job) await job.remove().catch(() => undefined);
    }
  }

  /** Jobs by state and the age of the oldest waiting one: three counts and one job read. */
  async depth(stage: Stage, now = Date.now()): Promise<QueueDepth> {
    const queue = this.queue(stage);
    const [counts, oldest] = await Promise.all([queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed'), queue.getJobs(['waiting'], 0, 0, true)]);
    // A delayed job (a retry's backoff) becomes ready when its delay ends, not when it was added.
    const readyAt = oldest[0] ? oldest[0].timestamp + (oldest[0].delay ?? 0) : now;
    return {
      stage,
      waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
      active: counts.active ?? 0,
      delayed: counts.delayed ?? 0,
      oldestWaitingSeconds: Math.max(0, (now - readyAt) / 1000),
    };
  }

  async isReachable(): Promise<boolean> {
    try {
      await this.queue('analyze').getJobCounts('waiting');
      return true;
    } catch {
      return false;
    }
  }
}
