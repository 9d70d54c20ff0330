import {
  MomentViewBuilder,
  OutboundGuard,
  WebhookSigner,
  type MomentsRepository,
  type OutboundRequestInit,
  type OutboundResponse,
  type StorageRepository,
  type WebhookDeliveriesRepository,
  type WebhookQueue,
  type WorkerConfig,
} from '@mcm/core';
import { asAdapter, type fakeCore, type Port } from '../../../test/fakes';
import { WebhookDelivery } from '../src/webhooks/webhook-delivery.service';

export const SECRETS = ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'whsec_dGhlIG5leHQgc2VjcmV0LCBhZnRlciByb3RhdGlvbg=='];

/** A receiver scripted per request: each POST is kept, and answered by `answer` (or it throws). */
export class FakeReceiver implements Port<OutboundGuard> {
  readonly allowPrivate = false;
  readonly requests: Array<{ url: string; headers: Record<string, string>; body: string }> = [];
  answer: (attempt: number) => number | Error = () => 204;

  async checkDestination(): Promise<void> {}

  async request(url: string | URL, init: OutboundRequestInit = {}): Promise<OutboundResponse> {
    this.requests.push({ url: String(url), headers: init.headers as Record<string, string>, body: String(init.body) });
    const answer = this.answer(this.requests.length);
    if (answer instanceof Error) throw answer;
    return { status: answer, headers: {}, body: Buffer.alloc(0) };
  }
}

/** The worker's delivery service over the fake core, a scripted receiver and a short schedule. */
export function webhookDelivery(core: ReturnType<typeof fakeCore>, receiver = new FakeReceiver(), config: Partial<WorkerConfig> = {}) {
  return new WebhookDelivery(
    asAdapter<WebhookDeliveriesRepository>(core.moments.webhookOutbox),
    asAdapter<MomentsRepository>(core.moments),
    new MomentViewBuilder(asAdapter<StorageRepository>(core.storage)),
    asAdapter<OutboundGuard>(receiver),
    new WebhookSigner(SECRETS),
    asAdapter<WebhookQueue>(core.webhooks),
    { WEBHOOK_RETRY_SCHEDULE_MS: [0, 1_000, 60_000], WEBHOOK_TIMEOUT_MS: 10_000, ...config },
  );
}
