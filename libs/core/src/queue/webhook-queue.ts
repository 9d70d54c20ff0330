import { Injectable } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';

/** Deliveries of the moments' webhooks; the worker sends them. */
export const WEBHOOK_QUEUE = 'webhooks';

export interface WebhookJobData {
  deliveryId: string;
}

const LIVE_STATES = new Set(['waiting', 'delayed', 'active', 'prioritized', 'waiting-children']);

/** Enqueues deliveries by their outbox id: a message carries the id only, and the same id twice is one job. */
@Injectable()
export class WebhookQueue {
  constructor(@InjectQueue(WEBHOOK_QUEUE) private readonly queue: Queue<WebhookJobData>) {}

  async enqueue(deliveryId: string, delayMs = 0): Promise<void> {
    // Finished jobs go at once: the outbox row is the record, and a revived delivery needs its id free.
    await this.queue.add('deliver', { deliveryId }, { jobId: deliveryId, delay: Math.max(0, delayMs), removeOnComplete: true, removeOnFail: true });
  }

  /** True while the delivery's message waits, is delayed for a retry, or is being sent. */
  async isLive(deliveryId: string): Promise<boolean> {
    const job = await this.queue.getJob(deliveryId);
    return job ? LIVE_STATES.has(await job.getState()) : false;
  }
}
