import { AppMetrics, MomentLifecycle, type MomentsRepository, type StageQueue, type WebhookQueue } from '@mcm/core';
import { FakeMomentsRepository } from './moments-repository.fake';
import { FakeStageQueue } from './stage-queue.fake';
import { FakeStorage } from './storage.fake';
import { FakeWebhookQueue } from './webhook-queue.fake';
import { asAdapter } from './port';

export { FakeMomentsRepository } from './moments-repository.fake';
export { FakeStageQueue, type FakeJob } from './stage-queue.fake';
export { FakeStorage } from './storage.fake';
export { FakeWebhookQueue } from './webhook-queue.fake';
export { FakeWebhookDeliveries } from './webhook-deliveries.fake';
export { FakeMusicTools } from './music-tools.fake';
export { asAdapter, type Port } from './port';

/** The moment lifecycle over in-memory adapters: what every service spec builds on. */
export function fakeCore() {
  const moments = new FakeMomentsRepository();
  const queue = new FakeStageQueue();
  const storage = new FakeStorage();
  const webhooks = new FakeWebhookQueue();
  const metrics = new AppMetrics();
  const lifecycle = new MomentLifecycle(asAdapter<MomentsRepository>(moments), asAdapter<StageQueue>(queue), asAdapter<WebhookQueue>(webhooks), metrics);
  return { moments, queue, storage, webhooks, metrics, lifecycle };
}
export { FakeSchedulerQueue } from './scheduler-queue.fake';
export { FakeUploads, type FakeRequestBody } from './uploads.fake';
export { FakeChangeFeed } from './change-feed.fake';
