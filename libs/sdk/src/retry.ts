import { MomentsApiError } from './errors';

/** How the client retries a call that may safely be sent again. */
export interface RetryOptions {
  /** Attempts in all, the first included; 1 turns retrying off. Default 4. */
  maxAttempts?: number;
  /** Cap of the first backoff; each later attempt doubles it. Default 500 ms. */
  baseDelayMs?: number;
  /** Longest wait between attempts; a `Retry-After` asking for more is not waited out. Default 20000 ms. */
  maxDelayMs?: number;
}

export type RetryPolicy = Required<RetryOptions>;

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 20_000 };

/** Statuses that say "try again later": rate limits, overload, gateways, timeouts. */
const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

export function retryPolicy(options: RetryOptions | false | undefined): RetryPolicy {
  if (options === false) return { ...DEFAULT_RETRY, maxAttempts: 1 };
  const policy = { ...DEFAULT_RETRY, ...options };
  return { ...policy, maxAttempts: Math.max(1, Math.floor(policy.maxAttempts)) };
}

/**
 * Runs `attempt` until it succeeds, fails for good, or runs out of attempts. Only 408, 429, 5xx and
 * network failures are retried, after exponential backoff with full jitter, or after the server's
 * `Retry-After`. An abort of `signal` ends the wait at once with the signal's reason.
 */
export async function withRetries<T>(policy: RetryPolicy, signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
  for (let attempts = 1; ; attempts++) {
    signal?.throwIfAborted();
    try {
      return await attempt();
    } catch (error) {
      if (signal?.aborted || attempts >= policy.maxAttempts || !isRetryable(error)) throw error;
      const delay = retryDelay(policy, attempts, error);
      if (delay === undefined) throw error;
      await sleep(delay, signal);
    }
  }
}

export function isRetryable(error: unknown): boolean {
  if (error instanceof MomentsApiError) return RETRYABLE_STATUSES.has(error.status);
  // fetch reports a network failure as a TypeError; an abort is a DOMException and is not retried.
  return error instanceof TypeError;
}

/** The wait before attempt `attempts + 1`, or undefined when the server asks for longer than the policy allows. */
export function retryDelay(policy: RetryPolicy, attempts: number, error: unknown): number | undefined {
  const asked = error instanceof MomentsApiError ? error.retryAfterMs : undefined;
  if (asked !== undefined) return asked <= policy.maxDelayMs ? asked : undefined;
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempts - 1));
  return Math.random() * cap;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const onAbort = () => {
      clearTimeout(timer);
      // The caller's abort reason, as fetch rejects with it (an AbortError unless the caller chose one).
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
