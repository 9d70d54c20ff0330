import type { WebhookQueue } from '@mcm/core';
import type { Port } from './port';

/** Deliveries by id with their delay, in memory; the same id twice is one job, as in BullMQ. */
export class FakeWebhookQueue implements Port<WebhookQueue> {
  readonly jobs = new Map<string, { delayMs: number }>();

  async enqueue(deliveryId: string, delayMs = 0): Promise<void> {
    if (!this.jobs.has(deliveryId)) this.jobs.set(deliveryId, { delayMs });
  }

  async isLive(deliveryId: string): Promise<boolean> {
    return this.jobs.has(deliveryId);
  }
}
