import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import IORedis from 'ioredis';
import { redisOptions } from '@mcm/core';

/** Throttler's record: hit count, and seconds until the window and the block end. */
interface ThrottlerStorageRecord {
  totalHits: number;
  timeToExpire: number;
  isBlocked: boolean;
  timeToBlockExpire: number;
}

/**
 * One fixed window per key, atomically: count the hit and start the window on the first one.
 * Returns the hits and the window's milliseconds left; past the limit the key is blocked until
 * the window ends, so the limit itself (not a stored block) decides, whatever instance asks.
 */
const INCREMENT = `
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local window = redis.call('PTTL', KEYS[1])
if window < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  window = tonumber(ARGV[1])
end
return { hits, window }
`;

type IncrementResult = [number, number];

/**
 * Rate-limit counters in Redis, so every api instance shares them. When Redis cannot answer,
 * requests pass (and a warning is logged): an outage of the counters must not stop uploads.
 */
export class RedisThrottlerStorage implements ThrottlerStorage, OnApplicationShutdown {
  private readonly logger = new Logger('RateLimit');
  private readonly redis: IORedis;
  private lastWarning = 0;

  constructor(
    redisUrl: string,
    private readonly prefix: string,
  ) {
    // Fail fast instead of queueing commands while Redis is away.
    this.redis = new IORedis({ ...redisOptions(redisUrl), maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true });
    this.redis.on('error', () => undefined);
    this.redis.connect().catch(() => undefined);
  }

  async increment(key: string, ttl: number, limit: number, _blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    try {
      const [totalHits, windowMs] = (await this.redis.eval(INCREMENT, 1, `${this.prefix}:rate:${throttlerName}:${key}`, ttl)) as IncrementResult;
      const seconds = Math.ceil(windowMs / 1000);
      const isBlocked = totalHits > limit;
      return { totalHits, timeToExpire: seconds, isBlocked, timeToBlockExpire: isBlocked ? seconds : 0 };
    } catch (error) {
      if (Date.now() - this.lastWarning > 60_000) {
        this.lastWarning = Date.now();
        this.logger.warn(`rate-limit counters unavailable, requests pass unlimited: ${(error as Error).message}`);
      }
      return { totalHits: 0, timeToExpire: Math.ceil(ttl / 1000), isBlocked: false, timeToBlockExpire: 0 };
    }
  }

  onApplicationShutdown(): void {
    this.redis.disconnect();
  }
}
