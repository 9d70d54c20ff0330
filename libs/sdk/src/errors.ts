import type { Moment, MomentError, MomentStatus, Problem } from './types';

/** The API answered with a non-2xx status; `problem` is its RFC 9457 body. */
export class MomentsApiError extends Error {
  override readonly name = 'MomentsApiError';
  readonly status: number;
  readonly code: string;
  readonly problem: Problem;
  /** How long the server asked the client to wait (`Retry-After`), in milliseconds. */
  readonly retryAfterMs: number | undefined;

  constructor(problem: Problem, retryAfterMs?: number) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
    this.status = problem.status;
    this.code = problem.code;
    this.problem = problem;
    this.retryAfterMs = retryAfterMs;
  }

  /** Builds the error from whatever the server sent, even when it is not problem JSON (proxies, storage). */
  static fromResponse(response: Response, body: unknown): MomentsApiError {
    const fields = body && typeof body === 'object' ? (body as Partial<Problem>) : {};
    const text = typeof body === 'string' && body.trim() ? body.trim().slice(0, 500) : undefined;
    return new MomentsApiError(
      {
        ...fields,
        type: typeof fields.type === 'string' ? fields.type : 'about:blank',
        title: typeof fields.title === 'string' ? fields.title : response.statusText || `HTTP ${response.status}`,
        status: typeof fields.status === 'number' ? fields.status : response.status,
        code: typeof fields.code === 'string' ? fields.code : `HTTP_${response.status}`,
        detail: typeof fields.detail === 'string' ? fields.detail : text,
      },
      parseRetryAfter(response.headers.get('retry-after')),
    );
  }
}

/** `Retry-After` in milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  const trimmed = value?.trim();
  if (!trimmed) return undefined;
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The moment ended FAILED or CANCELED while being waited for. */
export class MomentFailedError extends Error {
  override readonly name = 'MomentFailedError';
  readonly moment: Moment;
  readonly status: MomentStatus;
  /** The stage error; null when the moment was canceled. */
  readonly error: MomentError | null;

  constructor(moment: Moment) {
    const error = moment.error ?? null;
    super(moment.status === 'CANCELED' ? `Moment ${moment.id} was canceled` : `Moment ${moment.id} failed${error ? ` at ${error.stage ?? 'unknown stage'}: ${error.code}: ${error.message}` : ''}`);
    this.moment = moment;
    this.status = moment.status;
    this.error = error;
  }
}

/** `waitForMoment` gave up before the moment finished; the moment goes on server-side. */
export class MomentTimeoutError extends Error {
  override readonly name = 'MomentTimeoutError';
  readonly code = 'ETIMEDOUT';
  readonly momentId: string;
  readonly timeoutMs: number;
  /** The last state seen, when any poll succeeded. */
  readonly moment: Moment | undefined;

  constructor(momentId: string, timeoutMs: number, moment: Moment | undefined) {
    super(`Moment ${momentId} did not finish within ${timeoutMs} ms${moment ? ` (last status ${moment.status}${moment.stage ? `/${moment.stage}` : ''})` : ''}`);
    this.momentId = momentId;
    this.timeoutMs = timeoutMs;
    this.moment = moment;
  }
}

/** A webhook delivery was not signed by any of the given secrets, or its timestamp is too far from now. */
export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
}
