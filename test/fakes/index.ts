import { MomentLifecycle, type MomentsRepository, type StageQueue } from '@mcm/core';
import { FakeMomentsRepository } from './moments-repository.fake';
import { FakeStageQueue } from './stage-queue.fake';
import { FakeStorage } from './storage.fake';
import { asAdapter } from './port';

export { FakeMomentsRepository } from './moments-repository.fake';
export { FakeStageQueue, type FakeJob } from './stage-queue.fake';
export { FakeStorage } from './storage.fake';
export { FakeMusicTools } from './music-tools.fake';
export { asAdapter, type Port } from './port';

/** The moment lifecycle over in-memory adapters: what every service spec builds on. */
export function fakeCore() {
  const moments = new FakeMomentsRepository();
  const queue = new FakeStageQueue();
  const storage = new FakeStorage();
  const lifecycle = new MomentLifecycle(asAdapter<MomentsRepository>(moments), asAdapter<StageQueue>(queue));
  return { moments, queue, storage, lifecycle };
}
export { FakeSchedulerQueue } from './scheduler-queue.fake';
export { FakeUploads, type FakeRequestBody } from './uploads.fake';
