export { MomentsClient } from './moments-client';
export type { CreateMomentOptions, ListJobsQuery, MomentEventName, MomentStreamEvent, MomentsClientOptions, RequestOptions, StreamMomentOptions, WaitForMomentOptions } from './moments-client';
export { MomentFailedError, MomentTimeoutError, MomentsApiError } from './errors';
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
