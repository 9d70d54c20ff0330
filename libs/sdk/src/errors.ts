import type { Moment, MomentError, MomentStatus, Problem } from './types';

/** The API answered with a non-2xx status; `problem` is its RFC 9457 body. */
export class MomentsApiError extends Error {
  override readonly name = 'MomentsApiError';
  readonly status: number;
  readonly code: string;
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
    this.status = problem.status;
    this.code = problem.code;
    this.problem = problem;
  }

  /** Builds the error from whatever the server sent, even when it is not problem JSON (proxies, storage). */
  static fromResponse(response: Response, body: unknown): MomentsApiError {
    const fields = body && typeof body === 'object' ? (body as Partial<Problem>) : {};
    const text = typeof body === 'string' && body.trim() ? body.trim().slice(0, 500) : undefined;
    return new MomentsApiError({
      ...fields,
      type: typeof fields.type === 'string' ? fields.type : 'about:blank',
      title: typeof fields.title === 'string' ? fields.title : response.statusText || `HTTP ${response.status}`,
      status: typeof fields.status === 'number' ? fields.status : response.status,
      code: typeof fields.code === 'string' ? fields.code : `HTTP_${response.status}`,
      detail: typeof fields.detail === 'string' ? fields.detail : text,
    });
  }
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
    super(
      moment.status === 'CANCELED'
        ? `Moment ${moment.id} was canceled`
        : `Moment ${moment.id} failed${error ? ` at ${error.stage ?? 'unknown stage'}: ${error.code}: ${error.message}` : ''}`,
    );
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
