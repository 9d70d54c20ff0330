import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  APP_CONFIG,
  AppMetrics,
  MomentViewBuilder,
  MomentsRepository,
  OutboundGuard,
  OutboundRefusedError,
  WebhookDeliveriesRepository,
  WebhookQueue,
  WebhookSigner,
  judgeAttempt,
  type WebhookDeliveryEntity,
  type WorkerConfig,
} from '@mcm/core';

/** A receiver's answer is read only to be measured; a larger one is cut off. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** Why an attempt had no HTTP answer, in words safe to show an operator. */
function attemptError(error: unknown, timeoutMs: number): string {
  if (error instanceof OutboundRefusedError) return error.message;
  const { name, message } = error as Error;
  if (name === 'TimeoutError' || name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  return (message || String(error)).slice(0, 300);
}

/**
 * Sends one attempt of a webhook delivery and records it: the Standard Webhooks body, signed with
 * every configured secret, POSTed through the outbound guard (public addresses only, checked at
 * connect time; redirects are answers, never followed). The outbox row is the truth: a delivery that
 * is no longer pending is never sent again, whatever the queue says.
 */
@Injectable()
export class WebhookDelivery {
  private readonly logger = new Logger(WebhookDelivery.name);

  constructor(
    private readonly deliveries: WebhookDeliveriesRepository,
    private readonly moments: MomentsRepository,
    private readonly view: MomentViewBuilder,
    private readonly outbound: OutboundGuard,
    private readonly signer: WebhookSigner,
    private readonly queue: WebhookQueue,
    @Inject(APP_CONFIG) private readonly config: Pick<WorkerConfig, 'WEBHOOK_RETRY_SCHEDULE_MS' | 'WEBHOOK_TIMEOUT_MS'>,
    private readonly metrics: AppMetrics = new AppMetrics(),
  ) {}

  /** Makes one attempt; the delay before the next one, or null when the delivery is settled. */
  async attempt(deliveryId: string): Promise<number | null> {
    const delivery = await this.deliveries.findById(deliveryId);
    if (delivery?.state !== 'pending') return null;
    const at = new Date();
    const started = performance.now();
    let answer: { status: number | null; refused?: boolean; error?: string };
    try {
      const body = await this.body(delivery);
      const response = await this.outbound.request(delivery.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'main-character-moment-webhooks/1', ...this.signer.headers(delivery.id, at, body) },
        body,
        signal: AbortSignal.timeout(this.config.WEBHOOK_TIMEOUT_MS),
        maxResponseBytes: MAX_ANSWER_BYTES,
      });
      answer = { status: response.status };
    } catch (error) {
      answer = { status: null, refused: error instanceof OutboundRefusedError, error: attemptError(error, this.config.WEBHOOK_TIMEOUT_MS) };
    }
    const latencyMs = Math.round(performance.now() - started);
    const verdict = judgeAttempt(answer, delivery.attempts.length + 1, this.config.WEBHOOK_RETRY_SCHEDULE_MS);
    const retryInMs = verdict.state === 'pending' ? verdict.retryInMs : null;
    this.metrics.observeWebhookAttempt(verdict.state === 'pending' ? 'retrying' : verdict.state, latencyMs / 1000);
    await this.deliveries.recordAttempt(
      delivery.id,
      { at: at.toISOString(), status: answer.status, latency_ms: latencyMs, ...(answer.error ? { error: answer.error } : {}) },
      verdict.state,
      retryInMs === null ? null : new Date(Date.now() + retryInMs),
    );
    // The URL and the signatures stay out of the log: the URL may carry a receiver's token.
    const outcome = answer.status === null ? answer.error : `HTTP ${answer.status}`;
    if (verdict.state === 'delivered') this.logger.log(`webhook ${delivery.id} delivered (attempt ${delivery.attempts.length + 1}, ${latencyMs} ms)`);
    else this.logger.warn(`webhook ${delivery.id} attempt ${delivery.attempts.length + 1}: ${outcome}; ${retryInMs === null ? verdict.state : `next in ${retryInMs} ms`}`);
    return retryInMs;
  }

  /** `{type, timestamp, data}`: data is the moment as GET shows it, at the point the event reports, with URLs presigned now. */
  private async body(delivery: WebhookDeliveryEntity): Promise<string> {
    const moment = await this.moments.findById(delivery.momentId);
    if (!moment) throw new Error('the moment no longer exists');
    const { status, stage, progress, at } = delivery.point;
    return JSON.stringify({ type: delivery.eventType, timestamp: at, data: { ...(await this.view.build(moment)), status, stage, progress } });
  }

  /** Enqueues again the pending deliveries that are due and whose message is gone (Redis emptied, an enqueue lost). */
  async reconcile(limit = 500): Promise<number> {
    let revived = 0;
    for (const delivery of await this.deliveries.findDue(limit)) {
      if (await this.queue.isLive(delivery.id)) continue;
      await this.queue.enqueue(delivery.id);
      revived += 1;
      this.logger.warn(`webhook ${delivery.id}: re-enqueued`);
    }
    return revived;
  }
}
