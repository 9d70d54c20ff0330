import type { operations } from './schema';

type JsonBody<R> = R extends { content: { 'application/json': infer T } } ? T : never;
type RequestJson<O> = O extends { requestBody?: { content: { 'application/json': infer T } } } ? T : never;

/** A moment as the API returns it from `GET /v1/moments/{id}`. */
export type Moment = JsonBody<operations['getMoment']['responses'][200]>;
export type MomentStatus = Moment['status'];
export type MomentAssets = Moment['assets'];
export type MomentError = NonNullable<Moment['error']>;
export type OutputKind = NonNullable<Moment['output_kind']>;
/** The song plan: given at upload or composed from the analysis (JSON Schema in `components.schemas.Blueprint`). */
export type Blueprint = NonNullable<Moment['blueprint_json']>;

/** The `202` answer to a create: poll `status_url` or call `waitForMoment(id)`. */
export type CreateMomentResponse = JsonBody<operations['createMoment']['responses'][202]>;

/** A moment plus its machine state and transition history (admin). */
export type AdminJob = JsonBody<operations['getJob']['responses'][200]>;
export type JobList = JsonBody<operations['listJobs']['responses'][200]>;
export type RetryFailedFilter = RequestJson<operations['retryFailedJobs']>;
export type RetryFailedResult = JsonBody<operations['retryFailedJobs']['responses'][202]>;

/** RFC 9457 problem details, plus the API's stable machine-readable `code`. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  code: string;
  instance?: string;
  errors?: Array<{ path?: string; message: string; [key: string]: unknown }>;
  [key: string]: unknown;
}

/** A Buffer where Node's types are loaded, a plain Uint8Array elsewhere (browsers). */
export type Bytes = typeof globalThis extends { Buffer: { alloc(size: number): infer B } } ? B : Uint8Array;

/** What `createMoment` accepts as audio: bytes (Buffer included), a Blob/File, or a file path (Node only). */
export type AudioInput = Blob | Uint8Array | ArrayBuffer | string;
