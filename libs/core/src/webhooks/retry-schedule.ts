/** What one attempt's answer means for the delivery. */
export type AttemptVerdict = { state: 'delivered' | 'failed' | 'gone' } | { state: 'pending'; retryInMs: number };

/** ±20 %: deliveries that failed together do not all come back at once. */
const JITTER = 0.2;

/** The delay before attempt `attemptsMade + 1` (0-based schedule), jittered; null when the schedule is spent. */
export function retryDelay(schedule: readonly number[], attemptsMade: number, random: () => number = Math.random): number | null {
  if (attemptsMade >= schedule.length) return null;
  const base = schedule[attemptsMade];
  return Math.round(base * (1 - JITTER + random() * 2 * JITTER));
}

/**
 * Standard Webhooks: a 2xx is delivered; 410 Gone stops every delivery to the URL; a refused
 * destination is not retried; anything else (other statuses, timeouts, network errors) is retried
 * on the schedule until it is spent. `attemptsMade` counts the attempt just made.
 */
export function judgeAttempt(answer: { status: number | null; refused?: boolean }, attemptsMade: number, schedule: readonly number[], random?: () => number): AttemptVerdict {
  if (answer.status !== null && answer.status >= 200 && answer.status < 300) return { state: 'delivered' };
  if (answer.status === 410) return { state: 'gone' };
  if (answer.refused) return { state: 'failed' };
  const retryInMs = retryDelay(schedule, attemptsMade, random);
  return retryInMs === null ? { state: 'failed' } : { state: 'pending', retryInMs };
}
