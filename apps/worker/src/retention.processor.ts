import { InjectQueue, Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { APP_CONFIG, MomentRetention, RETENTION_JOB, RETENTION_QUEUE, RETENTION_SCHEDULER_ID, type WorkerConfig, type SweepReport } from '@mcm/core';

/**
 * Runs the retention pass on a BullMQ job scheduler, so however many workers run, each pass
 * runs once, and the schedule lives in Redis rather than in a timer of one process.
 */
@Processor(RETENTION_QUEUE, { concurrency: 1 })
export class RetentionProcessor extends WorkerHost implements OnApplicationBootstrap {
  private readonly logger = new Logger(RetentionProcessor.name);

  constructor(
    private readonly retention: MomentRetention,
    @InjectQueue(RETENTION_QUEUE) private readonly queue: Queue,
    @Inject(APP_CONFIG) private readonly config: Pick<WorkerConfig, 'SWEEP_INTERVAL_SECONDS'>,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    // Not awaited: a worker started while Redis is down still comes up; the reconciler tries again.
    void this.ensureScheduled().catch((error: Error) => this.logger.warn(`retention schedule not registered yet: ${error.message}`));
  }

  /** Registers the schedule when Redis lacks it (first start, Redis emptied) or its interval changed. */
  async ensureScheduled(): Promise<void> {
    const every = this.config.SWEEP_INTERVAL_SECONDS * 1000;
    // Every reconcile tick of every worker lands here: a read, and a write only when something changed.
    if ((await this.queue.getJobScheduler(RETENTION_SCHEDULER_ID))?.every === every) return;
    await this.queue.upsertJobScheduler(RETENTION_SCHEDULER_ID, { every }, { name: RETENTION_JOB, opts: { removeOnComplete: 20, removeOnFail: 50 } });
  }

  process(): Promise<SweepReport> {
    return this.retention.sweep();
  }
}
