import { describe, expect, it } from 'vitest';
import { DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS, loadConfig } from '../config/app-config';
import { judgeAttempt, retryDelay } from './retry-schedule';

const SCHEDULE = DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS;

describe('webhook retry schedule', () => {
  it('is the Standard Webhooks schedule by default: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h', () => {
    expect(loadConfig({}, 'worker').WEBHOOK_RETRY_SCHEDULE_MS).toEqual([0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);
    expect(loadConfig({ WEBHOOK_RETRY_SCHEDULE_MS: '0, 100,200' }, 'worker').WEBHOOK_RETRY_SCHEDULE_MS).toEqual([0, 100, 200]);
    expect(() => loadConfig({ WEBHOOK_RETRY_SCHEDULE_MS: '0,soon' }, 'worker')).toThrow(/WEBHOOK_RETRY_SCHEDULE_MS/);
  });

  it('jitters each delay by at most a fifth either way, and ends after the last', () => {
    expect(retryDelay(SCHEDULE, 1, () => 0)).toBe(4_000);
    expect(retryDelay(SCHEDULE, 1, () => 1)).toBe(6_000);
    expect(retryDelay(SCHEDULE, 4, () => 0.5)).toBe(7_200_000);
    const spread = new Set(Array.from({ length: 50 }, () => retryDelay(SCHEDULE, 2)));
    expect(spread.size).toBeGreaterThan(1);
    for (const delay of spread) expect(delay! >= 240_000 && delay! <= 360_000).toBe(true);
    expect(retryDelay(SCHEDULE, SCHEDULE.length)).toBeNull();
  });

  it('delivers on 2xx, stops on 410 and on a refused destination, retries anything else until the schedule is spent', () => {
    const half = () => 0.5;
    expect(judgeAttempt({ status: 204 }, 1, SCHEDULE)).toEqual({ state: 'delivered' });
    expect(judgeAttempt({ status: 410 }, 1, SCHEDULE)).toEqual({ state: 'gone' });
    expect(judgeAttempt({ status: null, refused: true }, 1, SCHEDULE)).toEqual({ state: 'failed' });
    expect(judgeAttempt({ status: 500 }, 1, SCHEDULE, half)).toEqual({ state: 'pending', retryInMs: 5_000 });
    expect(judgeAttempt({ status: 301 }, 2, SCHEDULE, half)).toEqual({ state: 'pending', retryInMs: 300_000 });
    expect(judgeAttempt({ status: null }, 3, SCHEDULE, half)).toEqual({ state: 'pending', retryInMs: 1_800_000 });
    expect(judgeAttempt({ status: 500 }, 8, SCHEDULE)).toEqual({ state: 'failed' });
  });
});
