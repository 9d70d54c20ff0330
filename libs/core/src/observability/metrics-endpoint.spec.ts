import { afterEach, describe, expect, it } from 'vitest';
import { AppMetrics } from './metrics';
import { metricsAccess, startMetricsServer, type MetricsServer } from './metrics-endpoint';

describe('who may read /metrics', () => {
  it('with METRICS_TOKEN: a bearer of it, on any listener', () => {
    const token = 'metrics-token-0123456789';
    for (const host of ['127.0.0.1', '0.0.0.0']) {
      expect(metricsAccess({ token, host }, `Bearer ${token}`)).toBe('allowed');
      expect(metricsAccess({ token, host }, undefined)).toBe('unauthorized');
      expect(metricsAccess({ token, host }, 'Bearer metrics-token-0123456788')).toBe('unauthorized');
      expect(metricsAccess({ token, host }, `Basic ${token}`)).toBe('unauthorized');
    }
  });

  it('without a token: anyone reaching a loopback listener, nobody on one the network reaches', () => {
    for (const host of ['127.0.0.1', 'localhost', '::1']) expect(metricsAccess({ host }, undefined)).toBe('allowed');
    for (const host of ['0.0.0.0', '::', '10.0.3.7']) expect(metricsAccess({ host }, 'Bearer anything-at-all-00000')).toBe('hidden');
  });
});

describe('the worker metrics listener', () => {
  let server: MetricsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('serves GET /metrics in the Prometheus text format, and nothing else', async () => {
    const metrics = new AppMetrics();
    metrics.observeStage('analyze', 'succeeded', 1.5);
    server = await startMetricsServer(metrics, { host: '127.0.0.1', port: 0 });
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/metrics`);
    const answer = await fetch(server.url);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await answer.text()).toContain('mcm_stage_duration_seconds_sum{stage="analyze",outcome="succeeded"} 1.5');
    expect((await fetch(server.url.replace('/metrics', '/'))).status).toBe(404);
    expect((await fetch(server.url, { method: 'POST' })).status).toBe(404);
  });

  it('asks for METRICS_TOKEN when one is configured', async () => {
    server = await startMetricsServer(new AppMetrics(), { host: '127.0.0.1', port: 0, token: 'metrics-token-0123456789' });
    const refused = await fetch(server.url);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    expect((await fetch(server.url, { headers: { authorization: 'Bearer metrics-token-0123456789' } })).status).toBe(200);
  });
});
