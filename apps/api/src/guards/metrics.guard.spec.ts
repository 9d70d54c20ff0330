import type { ExecutionContext } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { MetricsGuard } from './metrics.guard';

const TOKEN = 'metrics-token-0123456789';
const context = (authorization?: string) => ({ switchToHttp: () => ({ getRequest: () => ({ headers: authorization === undefined ? {} : { authorization } }) }) }) as unknown as ExecutionContext;

function outcome(guard: MetricsGuard, authorization?: string) {
  try {
    return guard.canActivate(context(authorization));
  } catch (error) {
    return error;
  }
}

describe('MetricsGuard', () => {
  it('serves a loopback api without a token', () => {
    expect(outcome(new MetricsGuard({ HOST: '127.0.0.1', METRICS_TOKEN: undefined }))).toBe(true);
  });

  it('hides /metrics (404 METRICS_DISABLED) on an api the network reaches until METRICS_TOKEN is set', () => {
    expect(outcome(new MetricsGuard({ HOST: '0.0.0.0', METRICS_TOKEN: undefined }), `Bearer ${TOKEN}`)).toMatchObject({ status: 404, code: 'METRICS_DISABLED' });
  });

  it('asks every caller for the token once one is configured, loopback included', () => {
    for (const HOST of ['127.0.0.1', '0.0.0.0']) {
      const guard = new MetricsGuard({ HOST, METRICS_TOKEN: TOKEN });
      expect(outcome(guard, `Bearer ${TOKEN}`)).toBe(true);
      const refused = outcome(guard, undefined);
      expect(refused).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
      expect((refused as { extras: { headers: Record<string, string> } }).extras.headers['WWW-Authenticate']).toBe('Bearer realm="metrics"');
    }
  });
});
