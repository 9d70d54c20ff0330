import type { RedisOptions } from 'bullmq';

/**
 * ioredis options from a `redis://` or `rediss://` URL. `rediss://` turns TLS on with the
 * platform's certificate checks; they are never switched off.
 */
export function redisOptions(redisUrl: string): RedisOptions {
  const url = new URL(redisUrl);
  const db = url.pathname.replace(/^\//, '');
  return {
    host: url.hostname,
    port: url.port ? Number(url.port) : 6379,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    db: db ? Number(db) : 0,
    tls: url.protocol === 'rediss:' ? { servername: url.hostname } : undefined,
    // BullMQ's blocking workers need commands to wait for a reconnect rather than fail.
    maxRetriesPerRequest: null,
    // Reconnect within 2 s of Redis coming back; the default backoff grows to 20 s.
    retryStrategy: (attempt: number) => Math.min(250 * attempt, 2_000),
  };
}
