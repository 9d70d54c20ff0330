export { MomentsClient } from './moments-client';
export type {
  CreateMomentOptions,
  ListJobsQuery,
  MomentEventName,
  MomentStreamEvent,
  MomentsClientOptions,
  RequestOptions,
  RunOptions,
  RunResult,
  StreamMomentOptions,
  WaitForMomentOptions,
} from './moments-client';
export type { RetryOptions } from './retry';
export { verifyWebhook, type WebhookHeaders } from './webhooks';
export { MomentFailedError, MomentTimeoutError, MomentsApiError, WebhookVerificationError } from './errors';
export type {
  AdminJob,
  AudioInput,
  Blueprint,
  Bytes,
  CreateMomentResponse,
  JobList,
  Moment,
  MomentAssets,
  MomentError,
  MomentStatus,
  OutputKind,
  Problem,
  RetryFailedFilter,
  RetryFailedResult,
} from './types';
export type { components, operations, paths } from './schema';
