/** One entry of a problem's `errors` list: where the input is wrong and why. */
export interface FieldError {
  /** JSON Pointer of the offending value (`/limit`, `/sections/0/bars`); `/` for the whole value. */
  path: string;
  message: string;
}

export interface AppErrorExtras {
  errors?: FieldError[];
  /** Response headers the problem needs (`WWW-Authenticate`, `Retry-After` …). */
  headers?: Record<string, string>;
  /** RFC 9457 extension members added to the body, e.g. the readiness `checks`. */
  extensions?: Record<string, unknown>;
  /** The request body was not (fully) read: answer first, then discard the rest (bounded). */
  bodyUnread?: boolean;
}

/**
 * An error the API answers on purpose: an HTTP status, a stable UPPER_SNAKE `code` clients can
 * branch on, and a human `detail`. Rendered as RFC 9457 problem details by the global filter.
 */
export class AppError extends Error {
  constructor(
    public readonly status: number,
    public readonly code: string,
    public readonly detail: string,
    public readonly extras: AppErrorExtras = {},
  ) {
    super(detail);
    this.name = 'AppError';
  }
}
