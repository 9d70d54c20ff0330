import type { MomentChangeFeed, MomentChangeHandlers } from '@mcm/core';
import type { Port } from './port';

/** The change feed without Postgres: a test announces what a commit elsewhere would. */
export class FakeChangeFeed implements Port<MomentChangeFeed> {
  private readonly handlers = new Set<MomentChangeHandlers>();

  async start(handlers: MomentChangeHandlers): Promise<void> {
    this.handlers.add(handlers);
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }

  announce(momentId: string, seq = 0n): void {
    for (const handlers of this.handlers) handlers.changed({ momentId, seq });
  }
}
