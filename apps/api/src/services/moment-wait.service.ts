import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { TERMINAL_STATUSES } from '@mcm/pipeline';
import { MomentChangeFeed, MomentsRepository, type MomentEntity } from '@mcm/core';

/**
 * Holds a request until a moment ends, for `Prefer: wait`. The moment is read when the change feed
 * says it changed (a commit on any instance), and once more when time is up, which heals a lost
 * notification; nothing polls.
 */
@Injectable()
export class MomentWaitService implements OnApplicationBootstrap {
  private readonly waiting = new Map<string, Set<() => void>>();

  constructor(
    private readonly moments: MomentsRepository,
    private readonly feed: MomentChangeFeed,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.feed.start({
      changed: ({ momentId }) => this.wake(momentId),
      resumed: () => [...this.waiting.keys()].forEach((momentId) => this.wake(momentId)),
    });
  }

  /** Waiters on this instance, for tests and metrics. */
  get count(): number {
    let count = 0;
    for (const waiters of this.waiting.values()) count += waiters.size;
    return count;
  }

  /** The moment once it is COMPLETED, FAILED or CANCELED, or as it stands after `seconds` (or when `signal` aborts). */
  async untilFinished(momentId: string, seconds: number, signal?: AbortSignal): Promise<MomentEntity | null> {
    const stop = new AbortController();
    const deadline = AbortSignal.any([AbortSignal.timeout(seconds * 1000), stop.signal, ...(signal ? [signal] : [])]);
    try {
      for (;;) {
        // Listening before reading: a change committed between the read and the wait still wakes it.
        let wake!: () => void;
        const changed = new Promise<void>((resolve) => (wake = resolve));
        this.listen(momentId, wake);
        try {
          const moment = await this.moments.findById(momentId);
          if (!moment || TERMINAL_STATUSES.includes(moment.status) || deadline.aborted) return moment;
          await Promise.race([changed, sleep(seconds * 1000, undefined, { signal: deadline, ref: false }).catch(() => undefined)]);
        } finally {
          this.unlisten(momentId, wake);
        }
      }
    } finally {
      stop.abort();
    }
  }

  private listen(momentId: string, wake: () => void): void {
    const waiters = this.waiting.get(momentId) ?? new Set();
    waiters.add(wake);
    this.waiting.set(momentId, waiters);
  }

  private unlisten(momentId: string, wake: () => void): void {
    const waiters = this.waiting.get(momentId);
    waiters?.delete(wake);
    if (waiters && !waiters.size) this.waiting.delete(momentId);
  }

  private wake(momentId: string): void {
    for (const wake of this.waiting.get(momentId) ?? []) wake();
  }
}
