import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, MomentLifecycle, type WorkerConfig } from '@mcm/core';
import { RetentionProcessor } from './retention.processor';
import { WebhookDelivery } from './webhooks/webhook-delivery.service';

/**
 * Postgres is the source of truth: on an interval, moments in flight whose queue message is
 * gone (Redis emptied, an enqueue lost) are enqueued again from their rows, so are webhook
 * deliveries still pending in the outbox, and the retention schedule is registered again if Redis lost it.
 */
@Injectable()
export class Reconciler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(Reconciler.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    private readonly lifecycle: MomentLifecycle,
    private readonly retention: RetentionProcessor,
    private readonly webhooks: WebhookDelivery,
    @Inject(APP_CONFIG) private readonly config: WorkerConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.tick(), this.config.RECONCILE_INTERVAL_MS);
    this.timer.unref();
  }

  async tick(): Promise<number> {
    if (this.running) return 0;
    const pass = this.pass();
    this.running = pass;
    try {
      return await pass;
    } catch (error) {
      this.logger.warn(`reconcile pass failed: ${(error as Error).message}`);
      return 0;
    } finally {
      this.running = undefined;
    }
  }

  private async pass(): Promise<number> {
    const [revived, deliveries] = await Promise.all([
      this.lifecycle.reconcile(this.config.RECONCILE_INTERVAL_MS),
      this.webhooks.reconcile(),
      this.retention.ensureScheduled().catch((error: Error) => this.logger.warn(`retention schedule not registered: ${error.message}`)),
    ]);
    return revived + deliveries;
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }
}
