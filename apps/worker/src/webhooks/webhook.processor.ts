import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, type OnApplicationBootstrap } from '@nestjs/common';
import { DelayedError, type Job } from 'bullmq';
import { APP_CONFIG, WEBHOOK_QUEUE, type WebhookJobData, type WorkerConfig } from '@mcm/core';
import { WebhookDelivery } from './webhook-delivery.service';

/**
 * One attempt per run; a retry moves the same job (same id) to the delayed set for the time the
 * outbox row's schedule says, so the queue never holds a second copy of a delivery.
 */
@Processor(WEBHOOK_QUEUE)
export class WebhookProcessor extends WorkerHost implements OnApplicationBootstrap {
  constructor(
    private readonly delivery: WebhookDelivery,
    @Inject(APP_CONFIG) private readonly config: Pick<WorkerConfig, 'WEBHOOK_CONCURRENCY'>,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    // Deliveries wait on the network, not on a core: many run at once.
    this.worker.concurrency = this.config.WEBHOOK_CONCURRENCY;
  }

  async process(job: Job<WebhookJobData>, token?: string): Promise<void> {
    const retryInMs = await this.delivery.attempt(job.data.deliveryId);
    if (retryInMs === null) return;
    await job.moveToDelayed(Date.now() + retryInMs, token);
    throw new DelayedError();
  }
}
