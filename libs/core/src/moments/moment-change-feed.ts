import { Logger } from '@nestjs/common';
import { Client } from 'pg';

/** The Postgres channel a committed change of a moment is announced on, as `<moment id>:<last transition id>`. */
export const MOMENT_CHANGED_CHANNEL = 'moment_changed';

export interface MomentChanged {
  momentId: string;
  /** The id of the change's last history row. */
  seq: bigint;
}

export interface MomentChangeHandlers {
  changed(change: MomentChanged): void;
  /** The feed was down and is back: anything committed meanwhile was not announced. */
  resumed(): void;
}

/** Parses a notification payload; null for anything else. */
export function parseMomentChanged(payload: string | undefined): MomentChanged | null {
  const match = /^([0-9a-f-]{36}):(\d+)$/.exec(payload ?? '');
  return match ? { momentId: match[1], seq: BigInt(match[2]) } : null;
}

const RECONNECT_MS = [250, 1_000, 2_000, 5_000];

/**
 * One LISTEN connection per process to hear, across every api and worker instance, that a moment
 * changed. Postgres sends a NOTIFY only when its transaction commits; a lost one is healed by the
 * reader going back to the history, so this feed only says when to look.
 */
export class MomentChangeFeed {
  private readonly logger = new Logger(MomentChangeFeed.name);
  private client: Client | null = null;
  private closed = false;
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly handlers = new Set<MomentChangeHandlers>();
  private connecting: Promise<void> | null = null;

  constructor(private readonly databaseUrl: string) {}

  /** Adds a listener; resolves once LISTEN is active (one connection for all of them); later drops reconnect in the background. */
  async start(handlers: MomentChangeHandlers): Promise<void> {
    this.handlers.add(handlers);
    this.connecting ??= this.connect();
    await this.connecting;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new Client({ connectionString: this.databaseUrl, keepAlive: true });
    client.on('notification', (message) => {
      const change = message.channel === MOMENT_CHANGED_CHANNEL ? parseMomentChanged(message.payload) : null;
      if (change) for (const handlers of this.handlers) handlers.changed(change);
    });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    await client.connect();
    await client.query(`LISTEN ${MOMENT_CHANGED_CHANNEL}`);
    this.client = client;
  }

  private lost(client: Client, error: Error): void {
    if (this.closed || this.client !== client) return;
    this.client = null;
    client.end().catch(() => undefined);
    this.logger.warn(`moment change feed lost (${error.message}); reconnecting`);
    this.reconnect();
  }

  private reconnect(): void {
    const delay = RECONNECT_MS[Math.min(this.failures, RECONNECT_MS.length - 1)];
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect().then(
        () => {
          this.failures = 0;
          this.logger.log('moment change feed reconnected');
          for (const handlers of this.handlers) handlers.resumed();
        },
        () => {
          this.failures += 1;
          if (!this.closed) this.reconnect();
        },
      );
    }, delay);
    this.timer.unref();
  }
}
