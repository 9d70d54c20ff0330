import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STAGES } from '@mcm/pipeline';
import { startStack, type Stack } from '../../scripts/stack';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver';
import { metricValue, parseMetrics, type Sample } from '../support/prometheus';
import { createTestEnv, type TestEnv } from '../support/test-env';

const HUM = readFileSync(resolve(__dirname, '../fixtures/hum-phone.m4a'));
const METRICS_TOKEN = 'e2e-metrics-token-0123456789';
const WEBHOOK_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

/**
 * Metrics and traces of the stack as separate processes: each app's `/metrics` is scraped before
 * and after one moment, and every app exports its spans over OTLP/HTTP to a receiver in this test.
 */
describe('metrics and traces, end to end', () => {
  let testEnv: TestEnv;
  let stack: Stack;
  let otlp: OtlpReceiver;
  let hooks: Server;
  let hooksUrl: string;
  const logs: string[] = [];
  const urls = { api: '', worker: '', musicTools: '' };
  // The create request continues a trace of this test's choosing, so the moment's spans are found by it.
  const traceId = randomBytes(16).toString('hex');
  const before: Record<keyof typeof urls, Sample[]> = { api: [], worker: [], musicTools: [] };
  let momentId = '';
  let createStatus = '';

  const scrape = async (url: string, token: string | null = METRICS_TOKEN) => {
    const response = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
  };
  const samples = async (app: keyof typeof urls) => parseMetrics((await scrape(urls[app])).text);

  beforeAll(async () => {
    hooks = createServer((request, response) => {
      request.resume();
      request.on('end', () => response.writeHead(204).end());
    });
    await new Promise<void>((done) => hooks.listen(0, '127.0.0.1', done));
    hooksUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook`;
    otlp = await startOtlpReceiver();
    testEnv = await createTestEnv({
      METRICS_TOKEN,
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
      // Batches leave every 100 ms instead of every 5 s.
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OUTBOUND_ALLOW_PRIVATE: 'true',
      WEBHOOK_SECRET,
    });
    stack = await startStack({ env: testEnv.env, workers: 1, log: (app, line) => logs.push(`[${app}] ${line}`) });
    const worker = stack.apps.find((app) => app.kind === 'worker')!;
    urls.api = `${stack.apiUrl}/metrics`;
    urls.worker = /metrics at (http:\S+\/metrics)/.exec(worker.readyLine)![1];
    urls.musicTools = `${stack.mcpUrl}/metrics`;
    for (const app of Object.keys(urls) as (keyof typeof urls)[]) before[app] = await samples(app);

    const body = new FormData();
    body.append('file', new Blob([new Uint8Array(HUM)]), 'hum.m4a');
    body.append('style', 'lofi');
    body.append('webhook_url', hooksUrl);
    const created = await fetch(`${stack.apiUrl}/v1/moments`, { method: 'POST', body, headers: { prefer: 'wait=60', traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` } });
    createStatus = String(created.status);
    momentId = ((await created.json()) as { id: string }).id;
    // On a busy machine the wait can run out first: then the moment is polled to its end.
    const deadline = Date.now() + 120_000;
    let status = '';
    while (status !== 'COMPLETED' && status !== 'FAILED' && Date.now() < deadline) {
      status = ((await (await fetch(`${stack.apiUrl}/v1/moments/${momentId}`)).json()) as { status: string }).status;
      if (status !== 'COMPLETED') await new Promise((done) => setTimeout(done, 250));
    }
    expect(status, logs.slice(-20).join('\n')).toBe('COMPLETED');
  });

  afterAll(async () => {
    await stack?.stop();
    await testEnv?.cleanup();
    await otlp?.close();
    await new Promise((done) => hooks?.close(done));
  });

  it('serves /metrics on each app only to a bearer of METRICS_TOKEN, in the Prometheus text format', async () => {
    for (const url of Object.values(urls)) {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      expect((await scrape(url, null)).status).toBe(401);
      expect((await scrape(url, 'not-the-metrics-token-0000')).status).toBe(401);
      const answer = await scrape(url);
      expect(answer.status).toBe(200);
      expect(answer.type).toContain('text/plain');
      // prom-client's default metrics: the process's own CPU, memory and event-loop lag.
      expect(metricValue(parseMetrics(answer.text), 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    }
  });

  it('moves the counters and histograms of every app through one moment', async () => {
    const api = await samples('api');
    const worker = await samples('worker');
    const musicTools = await samples('musicTools');
    const grew = (now: Sample[], then: Sample[], name: string, labels: Record<string, string> = {}) => (metricValue(now, name, labels) ?? 0) - (metricValue(then, name, labels) ?? 0);

    // The api: the create by its route template (and the moment's id nowhere in a label), moments by status from Postgres.
    expect(grew(api, before.api, 'mcm_http_requests_total', { method: 'POST', route: '/v1/moments', status: createStatus })).toBe(1);
    expect(grew(api, before.api, 'mcm_http_request_duration_seconds_count', { method: 'POST', route: '/v1/moments', status: createStatus })).toBe(1);
    expect(grew(api, before.api, 'mcm_http_request_duration_seconds_sum', { method: 'POST', route: '/v1/moments' })).toBeGreaterThan(0);
    expect(api.some((sample) => Object.values(sample.labels).some((value) => value.includes(momentId)))).toBe(false);
    expect(metricValue(before.api, 'mcm_moments', { status: 'COMPLETED' })).toBe(0);
    expect(metricValue(api, 'mcm_moments', { status: 'COMPLETED' })).toBe(1);
    expect(metricValue(api, 'mcm_moments', { status: 'PENDING' })).toBe(0);

    // The worker: each stage once, succeeded; the moment's end-to-end latency; the webhook; every queue's depth.
    for (const stage of STAGES) {
      expect(grew(worker, before.worker, 'mcm_stage_duration_seconds_count', { stage, outcome: 'succeeded' }), stage).toBe(1);
      expect(grew(worker, before.worker, 'mcm_stage_duration_seconds_sum', { stage, outcome: 'succeeded' }), stage).toBeGreaterThan(0);
      expect(metricValue(worker, 'mcm_queue_jobs', { stage, state: 'waiting' }), stage).toBe(0);
      expect(metricValue(worker, 'mcm_queue_oldest_waiting_seconds', { stage }), stage).toBe(0);
    }
    expect(grew(worker, before.worker, 'mcm_moment_duration_seconds_count', { status: 'COMPLETED' })).toBe(1);
    expect(grew(worker, before.worker, 'mcm_moment_duration_seconds_sum', { status: 'COMPLETED' })).toBeGreaterThan(0);
    // The +Inf bucket holds every observation; some finite bucket holds this one too.
    expect(grew(worker, before.worker, 'mcm_moment_duration_seconds_bucket', { status: 'COMPLETED', le: '900' })).toBe(1);

    const deadline = Date.now() + 30_000;
    let webhooks = worker;
    while (!metricValue(webhooks, 'mcm_webhook_attempts_total', { outcome: 'delivered' }) && Date.now() < deadline) {
      await new Promise((done) => setTimeout(done, 200));
      webhooks = await samples('worker');
    }
    expect(metricValue(webhooks, 'mcm_webhook_attempts_total', { outcome: 'delivered' })).toBe(1);
    expect(metricValue(webhooks, 'mcm_webhook_attempt_duration_seconds_count', { outcome: 'delivered' })).toBe(1);

    // music-tools: the worker's MCP calls (validate, then the preview) as POSTs to /mcp.
    expect(grew(musicTools, before.musicTools, 'mcm_http_requests_total', { method: 'POST', route: '/mcp', status: '200' })).toBeGreaterThanOrEqual(2);
    expect(grew(musicTools, before.musicTools, 'mcm_http_request_duration_seconds_count', { method: 'POST', route: '/mcp' })).toBeGreaterThanOrEqual(2);
  });

  it('follows the moment in one trace from the create request through the queue to the worker and into music-tools', async () => {
    const trace = () => otlp.spans.filter((span) => span.traceId === traceId);
    const has = (service: string, name: string) => trace().some((span) => span.service === service && span.name === name);
    const expected: [string, string][] = [
      ['api', 'POST /v1/moments'],
      ...STAGES.map((stage): [string, string] => ['worker', `stage ${stage}`]),
      ['worker', 'mcp validate_blueprint'],
      ['worker', 'mcp synthesize_preview'],
      ['music-tools', 'mcp validate_blueprint'],
      ['music-tools', 'mcp synthesize_preview'],
    ];
    const deadline = Date.now() + 30_000;
    while (!expected.every(([service, name]) => has(service, name)) && Date.now() < deadline) await new Promise((done) => setTimeout(done, 200));
    expect(new Set(trace().map((span) => span.service))).toEqual(new Set(['api', 'worker', 'music-tools']));
    for (const [service, name] of expected) expect(has(service, name), `${service}: ${name}`).toBe(true);

    const one = (service: string, name: string): ReceivedSpan => trace().find((span) => span.service === service && span.name === name)!;
    // Parent links cross each process boundary: the job data carries the api's span, `_meta` the worker's client span.
    expect(one('worker', 'stage analyze').parentSpanId).toBe(one('api', 'POST /v1/moments').spanId);
    expect(one('worker', 'stage compose').parentSpanId).toBe(one('worker', 'stage analyze').spanId);
    expect(one('worker', 'stage analyze').attributes).toMatchObject({ 'mcm.moment_id': momentId, 'mcm.stage': 'analyze', 'mcm.outcome': 'succeeded' });
    for (const tool of ['validate_blueprint', 'synthesize_preview']) {
      expect(one('music-tools', `mcp ${tool}`).parentSpanId).toBe(one('worker', `mcp ${tool}`).spanId);
    }
    expect(one('worker', 'mcp synthesize_preview').parentSpanId).toBe(one('worker', 'stage mix').spanId);
  });
});
