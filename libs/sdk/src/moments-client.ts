import { EventSource, type FetchLike } from 'eventsource';
import createClient, { type Client } from 'openapi-fetch';
import { toAudioFile } from './audio-file';
import { MomentFailedError, MomentTimeoutError, MomentsApiError } from './errors';
import { loadFs } from './node-fs';
import { isRetryable, retryPolicy, sleep, withRetries, type RetryOptions, type RetryPolicy } from './retry';
import type { paths } from './schema';
import type { AdminJob, AudioInput, Blueprint, Bytes, CreateMomentResponse, JobList, Moment, MomentStatus, OutputKind, RetryFailedFilter, RetryFailedResult } from './types';

export interface MomentsClientOptions {
  /** Where the API lives, e.g. `https://api.example.com` (without `/v1`). */
  baseUrl: string;
  /** Client key, sent as `X-Api-Key` on every request. */
  apiKey?: string;
  /** Operator token for the `/v1/admin` endpoints, sent as a bearer token on those only. */
  adminToken?: string;
  /** A fetch implementation to use instead of the global one (tests, proxies, instrumentation). */
  fetch?: typeof fetch;
  /** Extra headers sent on every API request. */
  headers?: Record<string, string>;
  /**
   * Retries of safe calls (reads, deletes, downloads, and creates that carry an idempotency key)
   * on 408, 429, 5xx and network failures; `false` turns them off.
   */
  retry?: RetryOptions | false;
}

export interface CreateMomentOptions {
  /** Name of the uploaded file; defaults to the path's basename, a File's name, or `audio`. */
  filename?: string;
  /** MIME type of the upload; inferred from the filename when omitted (the server checks the content anyway). */
  contentType?: string;
  style?: string;
  title?: string;
  lyrics?: string;
  outputKind?: OutputKind;
  /** A blueprint to use instead of the one generated from the audio; validated by the server. */
  blueprint?: Blueprint;
  /** Makes a retried create return the first result instead of starting a second moment. */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export interface WaitForMomentOptions {
  /** The whole wait, requests and retries included; default 120000. */
  timeoutMs?: number;
  /** Delay between polls, when the live stream is unavailable; default 250. */
  intervalMs?: number;
  /** Called with the moment whenever its status, stage or progress changes (and once at the start). */
  onProgress?: (moment: Moment) => void;
  signal?: AbortSignal;
}

/** The names of a moment's live events. */
export type MomentEventName = 'moment.status' | 'moment.progress' | 'moment.completed' | 'moment.failed' | 'moment.canceled';

/** One live event: `id` is its sequence number (pass it as `lastEventId` to resume after it). */
export interface MomentStreamEvent {
  id: string;
  type: MomentEventName;
  /** The moment, with the status, stage and progress of this change. */
  moment: Moment;
}

export interface StreamMomentOptions {
  /** Resume after this event; by default the stream starts from the moment's creation. */
  lastEventId?: string;
  signal?: AbortSignal;
}

const MOMENT_EVENT_NAMES: readonly MomentEventName[] = ['moment.status', 'moment.progress', 'moment.completed', 'moment.failed', 'moment.canceled'];
const FINAL_EVENTS: ReadonlySet<string> = new Set(['moment.completed', 'moment.failed', 'moment.canceled']);

export interface RunOptions extends CreateMomentOptions, WaitForMomentOptions {
  /** Sent with the create so a retried upload never starts a second moment; a random one by default. */
  idempotencyKey?: string;
}

export interface RunResult {
  /** The moment as it completed. */
  moment: Moment;
  /** The preview MP3's bytes (a Buffer in Node). */
  preview: Bytes;
}

export interface ListJobsQuery {
  status?: MomentStatus[] | string;
  limit?: number;
  cursor?: string;
}

export interface RequestOptions {
  signal?: AbortSignal;
}

/** A moment as last read, with the ETag to revalidate it. */
interface TaggedMoment {
  moment: Moment;
  etag: string | null;
}

interface ApiResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

type CreateMomentBody = NonNullable<paths['/v1/moments']['post']['requestBody']>['content']['multipart/form-data'];
type MultipartFields = Record<string, string | undefined>;

const TERMINAL_FAILURES: ReadonlySet<string> = new Set(['FAILED', 'CANCELED']);
const SINGLE_ATTEMPT: RetryPolicy = retryPolicy(false);

/** Typed client for the Main Character Moment API. */
export class MomentsClient {
  /** The underlying openapi-fetch client, for operations without a helper (e.g. the compatibility routes). */
  readonly api: Client<paths>;
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly adminHeaders: Record<string, string>;
  private readonly headers: Record<string, string>;
  private readonly retry: RetryPolicy;

  constructor(options: MomentsClientOptions) {
    if (!options?.baseUrl) throw new TypeError('MomentsClient: baseUrl is required');
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    // Resolved per call so a fetch installed after construction (polyfills, test mocks) is used.
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    const headers: Record<string, string> = { ...options.headers };
    if (options.apiKey) headers['X-Api-Key'] = options.apiKey;
    this.headers = headers;
    this.adminHeaders = options.adminToken ? { Authorization: `Bearer ${options.adminToken}` } : {};
    this.retry = retryPolicy(options.retry);
    this.api = createClient<paths>({ baseUrl: this.baseUrl, headers, fetch: (request) => this.fetchImpl(request) });
  }

  /**
   * Uploads a clip, waits for the moment to complete and downloads its preview, in one call.
   * The create always carries an idempotency key, so it is retried like any safe call without
   * risk of a second moment. Rejects as `createMoment`, `waitForMoment` and `download` do.
   */
  async run(audio: AudioInput, options: RunOptions = {}): Promise<RunResult> {
    const { signal } = options;
    const { id } = await this.createMoment(audio, { ...options, idempotencyKey: options.idempotencyKey ?? randomKey() });
    const moment = await this.waitForMoment(id, options);
    const url = moment.assets.preview ?? moment.final_audio_url;
    if (!url) throw new TypeError(`Moment ${id} completed without a preview`);
    return { moment, preview: await this.download(url, undefined, { signal }) };
  }

  /**
   * Uploads a clip and starts a moment. Resolves as soon as the server has accepted it (202).
   * Retried on transient failures only with an `idempotencyKey`: without one a retry could start a second moment.
   */
  async createMoment(audio: AudioInput, options: CreateMomentOptions = {}): Promise<CreateMomentResponse> {
    const { blob, filename } = await toAudioFile(audio, options);
    const fields: MultipartFields = {
      output_kind: options.outputKind,
      style: options.style,
      title: options.title,
      lyrics: options.lyrics,
      blueprint_json: options.blueprint === undefined ? undefined : JSON.stringify(options.blueprint),
    };
    const { idempotencyKey, signal } = options;
    return this.send(Boolean(idempotencyKey), signal, async () =>
      unwrap(
        await this.api.POST('/v1/moments', {
          // The schema types a binary field as string; the serializer below sends the Blob as a file part.
          body: { ...fields, file: blob } as unknown as CreateMomentBody,
          bodySerializer: () => toFormData(fields, blob, filename),
          headers: idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {},
          signal,
        }),
      ),
    );
  }

  async getMoment(id: string, options: RequestOptions = {}): Promise<Moment> {
    return this.send(true, options.signal, async () => unwrap(await this.api.GET('/v1/moments/{id}', { params: { path: { id } }, signal: options.signal })));
  }

  async cancelMoment(id: string, options: RequestOptions = {}): Promise<Moment> {
    return unwrap(await this.api.POST('/v1/moments/{id}/cancel', { params: { path: { id } }, signal: options.signal }));
  }

  /**
   * Deletes the moment: its recording and every asset are removed and it can no longer be read
   * (the API answers 410 MOMENT_DELETED from then on). A moment already deleted counts as
   * deleted, so a retried call resolves too. A moment in progress is canceled first.
   */
  async deleteMoment(id: string, options: RequestOptions = {}): Promise<void> {
    await this.send(true, options.signal, async () => unwrapDeletion(await this.api.DELETE('/v1/moments/{id}', { params: { path: { id } }, signal: options.signal })));
  }

  /**
   * Follows the moment live (server-sent events): yields one event per change of status, stage or
   * progress, from its creation (or after `lastEventId`), and finishes after the one that ends it
   * (for a moment an operator retried, the replay also holds the FAILED or CANCELED it resumed from).
   * A dropped connection reconnects by itself and resumes after the last event, with no gap and no
   * repeat. Rejects with MomentsApiError when the API refuses the stream (unknown moment, key), and
   * with the signal's reason when aborted. Works in Node (20.19+) and browsers.
   */
  streamMoment(id: string, options: StreamMomentOptions = {}): AsyncGenerator<MomentStreamEvent, void, undefined> {
    return this.events(id, options, true);
  }

  /** The live events; `explain` reads the problem of a refused stream from the plain GET, otherwise a refusal rejects with its status only. */
  private async *events(id: string, options: StreamMomentOptions, explain: boolean): AsyncGenerator<MomentStreamEvent, void, undefined> {
    const { signal } = options;
    signal?.throwIfAborted();
    const queue: MomentStreamEvent[] = [];
    // A terminal event ends the moment only if the server closes the stream after it; a retried moment carries on.
    let held: MomentStreamEvent | null = null;
    let ended = false;
    let failure: { error: unknown } | null = null;
    let wake: (() => void) | null = null;
    const notify = () => {
      wake?.();
      wake = null;
    };
    const fetchStream: FetchLike = (url, init) => {
      const headers: Record<string, string> = { ...this.headers, ...init.headers };
      if (options.lastEventId && !('Last-Event-ID' in init.headers)) headers['Last-Event-ID'] = options.lastEventId;
      return this.fetchImpl(url, { ...init, headers });
    };
    const source = new EventSource(`${this.baseUrl}/v1/moments/${encodeURIComponent(id)}/events`, { fetch: fetchStream });
    for (const name of MOMENT_EVENT_NAMES) {
      source.addEventListener(name, (event) => {
        if (held) queue.push(held);
        held = null;
        const next: MomentStreamEvent = { id: event.lastEventId, type: name, moment: JSON.parse(event.data as string) as Moment };
        if (FINAL_EVENTS.has(name)) held = next;
        else queue.push(next);
        notify();
      });
    }
    source.addEventListener('error', (event) => {
      const { code, message } = event as Event & { code?: number; message?: string };
      // The server ended the stream (no network error) right after a terminal event: that one was the last.
      if (held && source.readyState === source.CONNECTING && message === undefined) {
        queue.push(held);
        held = null;
        ended = true;
        notify();
        return;
      }
      // While CONNECTING the source retries by itself with Last-Event-ID; CLOSED means it gave up.
      if (source.readyState !== source.CLOSED) return;
      failure = { error: code ?? new TypeError(`event stream failed: ${message ?? 'unknown error'}`) };
      notify();
    });
    const onAbort = () => {
      failure = { error: signal?.reason };
      notify();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (ended) return;
        if (failure) {
          const { error } = failure as { error: unknown };
          // A refused stream carries only its status: the same request without streaming says why.
          if (typeof error === 'number') throw explain ? await this.refusal(id, error, signal) : new TypeError(`event stream refused with HTTP ${error}`);
          throw error;
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      source.close();
    }
  }

  /**
   * Waits until the moment is COMPLETED, following its live events, or polling when the stream is
   * unavailable. Rejects with MomentFailedError when it ends FAILED or CANCELED, with
   * MomentTimeoutError after `timeoutMs`, and with the signal's reason when aborted.
   * Transient poll failures (network, 429, 5xx) are retried until the deadline.
   */
  async waitForMoment(id: string, options: WaitForMomentOptions = {}): Promise<Moment> {
    const { timeoutMs = 120_000, signal } = options;
    signal?.throwIfAborted();
    const deadline = Date.now() + timeoutMs;
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), timeoutMs);
    const stop = anySignal([signal, timeout.signal]);
    const seen = progressReporter(options.onProgress);
    try {
      let last: Moment | undefined;
      for await (const event of this.events(id, { signal: stop }, false)) {
        seen.report(event.moment);
        if (event.moment.status === 'COMPLETED') return event.moment;
        last = event.moment;
      }
      // An earlier FAILED or CANCELED in the replay was followed by a retry; only the last one counts.
      if (last && TERMINAL_FAILURES.has(last.status)) throw new MomentFailedError(last);
    } catch (error) {
      if (error instanceof MomentFailedError) throw error;
      if (signal?.aborted) throw signal.reason;
      if (timeout.signal.aborted) throw new MomentTimeoutError(id, timeoutMs, seen.last);
      // The stream is unavailable (an older API, a proxy that refuses it): poll instead.
    } finally {
      clearTimeout(timer);
    }
    return this.pollMoment(id, { ...options, timeoutMs }, deadline, seen);
  }

  private async pollMoment(id: string, options: WaitForMomentOptions, deadline: number, seen: ReturnType<typeof progressReporter>): Promise<Moment> {
    const { timeoutMs = 120_000, intervalMs = 250, signal } = options;
    // The deadline bounds every request, retry and wait of the polling, not only the loop between polls.
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), Math.max(0, deadline - Date.now()));
    const stop = anySignal([signal, timeout.signal]);
    let held: TaggedMoment | undefined;
    try {
      for (;;) {
        stop.throwIfAborted();
        let moment: Moment | undefined;
        try {
          held = await this.send(true, stop, () => this.revalidateMoment(id, held, stop));
          moment = held.moment;
        } catch (error) {
          if (stop.aborted || !isRetryable(error)) throw error;
        }
        if (moment) {
          seen.report(moment);
          if (moment.status === 'COMPLETED') return moment;
          if (TERMINAL_FAILURES.has(moment.status)) throw new MomentFailedError(moment);
        }
        await sleep(intervalMs, stop);
      }
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (timeout.signal.aborted) throw new MomentTimeoutError(id, timeoutMs, seen.last);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The moment, or `held` again when the API answers 304 to its ETag: a poll that saw no change downloads nothing. */
  private async revalidateMoment(id: string, held: TaggedMoment | undefined, signal?: AbortSignal): Promise<TaggedMoment> {
    const headers = held?.etag ? { 'If-None-Match': held.etag } : undefined;
    const result = await this.api.GET('/v1/moments/{id}', { params: { path: { id } }, headers, signal });
    if (result.response.status === 304 && held) return held;
    return { moment: unwrap(result), etag: result.response.headers.get('etag') };
  }

  /** The API's problem for a stream it refused with `status`, read from the same moment without streaming. */
  private async refusal(id: string, status: number, signal?: AbortSignal): Promise<unknown> {
    try {
      await this.getMoment(id, { signal });
    } catch (error) {
      return error;
    }
    return MomentsApiError.fromResponse(new Response(null, { status }), `the event stream was refused with HTTP ${status}`);
  }

  /** Admin: one page of moments, newest first. Pass `next_cursor` back as `cursor` for the next page. */
  async listJobs(query: ListJobsQuery = {}, options: RequestOptions = {}): Promise<JobList> {
    const status =
      typeof query.status === 'string'
        ? (query.status
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean) as MomentStatus[])
        : query.status;
    return this.send(true, options.signal, async () =>
      unwrap(
        await this.api.GET('/v1/admin/jobs', {
          params: { query: { status: status?.length ? status : undefined, limit: query.limit, cursor: query.cursor } },
          headers: this.adminHeaders,
          signal: options.signal,
        }),
      ),
    );
  }

  /** Admin: a moment plus its machine state and transition history. */
  async getJob(id: string, options: RequestOptions = {}): Promise<AdminJob> {
    return this.send(true, options.signal, async () => unwrap(await this.api.GET('/v1/admin/jobs/{id}', { params: { path: { id } }, headers: this.adminHeaders, signal: options.signal })));
  }

  /** Admin: resumes a FAILED or CANCELED moment from the stage that stopped it. */
  async retryJob(id: string, options: RequestOptions = {}): Promise<Moment> {
    return unwrap(await this.api.POST('/v1/admin/jobs/{id}/retry', { params: { path: { id } }, headers: this.adminHeaders, signal: options.signal }));
  }

  /** Admin: deletes any client's moment, as `deleteMoment` does for its own client. */
  async deleteJob(id: string, options: RequestOptions = {}): Promise<void> {
    await this.send(true, options.signal, async () => unwrapDeletion(await this.api.DELETE('/v1/admin/jobs/{id}', { params: { path: { id } }, headers: this.adminHeaders, signal: options.signal })));
  }

  /** Admin: retries every failed moment matching the filter. */
  async retryFailedJobs(filter?: RetryFailedFilter, options: RequestOptions = {}): Promise<RetryFailedResult> {
    return unwrap(await this.api.POST('/v1/admin/jobs/retry-failed', { body: filter ?? {}, headers: this.adminHeaders, signal: options.signal }));
  }

  /**
   * Fetches an asset URL from a moment (presigned, so no API credentials are sent) and returns its bytes.
   * With `path` (Node only) the bytes are also written to that file.
   */
  async download(url: string, path?: string, options: RequestOptions = {}): Promise<Bytes> {
    const { signal } = options;
    const arrayBuffer = await this.send(true, signal, async () => {
      const response = await this.fetchImpl(new URL(url, `${this.baseUrl}/`).toString(), { signal });
      if (!response.ok) throw MomentsApiError.fromResponse(response, await response.text().catch(() => ''));
      return response.arrayBuffer();
    });
    const NodeBuffer = (globalThis as { Buffer?: { from(data: ArrayBuffer): Uint8Array } }).Buffer;
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- Bytes is Buffer where the client's types include Node's, as in this repository's type check.
    const bytes = (NodeBuffer ? NodeBuffer.from(arrayBuffer) : new Uint8Array(arrayBuffer)) as Bytes;
    if (path !== undefined) {
      const fs = await loadFs();
      await fs.promises.writeFile(path, bytes);
    }
    return bytes;
  }

  /** One call, sent again on transient failures when `safe` (sending it twice does no harm). */
  private send<T>(safe: boolean, signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
    return withRetries(safe ? this.retry : SINGLE_ATTEMPT, signal, attempt);
  }
}

function toFormData(fields: MultipartFields, file: Blob, filename: string): FormData {
  const form = new FormData();
  // Text fields first: the server can refuse a bad request before the audio has streamed in.
  for (const [name, value] of Object.entries(fields)) if (value !== undefined) form.append(name, value);
  form.append('file', file, filename);
  return form;
}

function unwrap<T>(result: ApiResult<T>): T {
  if (result.response.ok) return result.data as T;
  throw MomentsApiError.fromResponse(result.response, result.error);
}

/** 204, or 410 MOMENT_DELETED for a moment an earlier call already deleted. */
function unwrapDeletion(result: ApiResult<unknown>): void {
  if (result.response.ok) return;
  const error = MomentsApiError.fromResponse(result.response, result.error);
  if (error.status === 410 && error.code === 'MOMENT_DELETED') return;
  throw error;
}

/** Calls `onProgress` once per distinct status, stage and progress, and remembers the last moment seen. */
function progressReporter(onProgress?: (moment: Moment) => void) {
  let lastKey: string | undefined;
  const state = {
    last: undefined as Moment | undefined,
    report(moment: Moment) {
      state.last = moment;
      const key = `${moment.status}|${moment.stage ?? ''}|${moment.progress}`;
      if (key === lastKey) return;
      lastKey = key;
      onProgress?.(moment);
    },
  };
  return state;
}

/** Aborts when any of `signals` does (AbortSignal.any is missing from some browsers still in use). */
function anySignal(signals: Array<AbortSignal | undefined>): AbortSignal {
  const controller = new AbortController();
  for (const signal of signals) {
    if (!signal) continue;
    if (signal.aborted) {
      controller.abort(signal.reason);
      break;
    }
    signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
  }
  return controller.signal;
}

/** A random idempotency key; crypto.randomUUID is missing outside secure contexts in browsers. */
function randomKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}
