import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { metricValue, parseMetrics } from '../../../../test/support/prometheus';
import { observeHttp } from './http-observer';
import { AppMetrics, type QueueDepth } from './metrics';

const scrape = async (metrics: AppMetrics) => parseMetrics((await metrics.exposition()).body);

describe('AppMetrics', () => {
  it('reports every status of moments by status, zero for those Postgres has none of', async () => {
    const metrics = new AppMetrics();
    metrics.watchMomentStatuses(async () => new Map([['COMPLETED', 3]]));
    const samples = await scrape(metrics);
    expect(metricValue(samples, 'mcm_moments', { status: 'COMPLETED' })).toBe(3);
    expect(metricValue(samples, 'mcm_moments', { status: 'PENDING' })).toBe(0);
    expect(samples.filter((sample) => sample.name === 'mcm_moments')).toHaveLength(7);
  });

  it('leaves moments by status out of a scrape when the database does not answer, and serves the rest', async () => {
    const metrics = new AppMetrics();
    metrics.watchMomentStatuses(() => Promise.reject(new Error('connect ECONNREFUSED')));
    metrics.observeStage('compose', 'succeeded', 0.02);
    const samples = await scrape(metrics);
    expect(metricValue(samples, 'mcm_moments')).toBeUndefined();
    expect(metricValue(samples, 'mcm_stage_duration_seconds_count', { stage: 'compose', outcome: 'succeeded' })).toBe(1);
  });

  it('reads the queues once per scrape for both queue gauges', async () => {
    const metrics = new AppMetrics();
    let reads = 0;
    const depth: QueueDepth = { stage: 'mix', waiting: 4, active: 2, delayed: 1, oldestWaitingSeconds: 12.5 };
    metrics.watchQueues(async () => {
      reads += 1;
      return [depth];
    });
    const samples = await scrape(metrics);
    expect(reads).toBe(1);
    expect(metricValue(samples, 'mcm_queue_jobs', { stage: 'mix', state: 'waiting' })).toBe(4);
    expect(metricValue(samples, 'mcm_queue_jobs', { stage: 'mix', state: 'active' })).toBe(2);
    expect(metricValue(samples, 'mcm_queue_jobs', { stage: 'mix', state: 'delayed' })).toBe(1);
    expect(metricValue(samples, 'mcm_queue_oldest_waiting_seconds', { stage: 'mix' })).toBe(12.5);
  });

  it('times moments from creation to their end, by terminal status', async () => {
    const metrics = new AppMetrics();
    metrics.observeMomentEnded('COMPLETED', new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T00:00:02.5Z'));
    const samples = await scrape(metrics);
    expect(metricValue(samples, 'mcm_moment_duration_seconds_sum', { status: 'COMPLETED' })).toBe(2.5);
    expect(metricValue(samples, 'mcm_moment_duration_seconds_bucket', { status: 'COMPLETED', le: '2' })).toBe(0);
    expect(metricValue(samples, 'mcm_moment_duration_seconds_bucket', { status: 'COMPLETED', le: '3' })).toBe(1);
  });

  it('counts webhook attempts and their latency by outcome', async () => {
    const metrics = new AppMetrics();
    metrics.observeWebhookAttempt('retrying', 0.2);
    metrics.observeWebhookAttempt('delivered', 0.1);
    const samples = await scrape(metrics);
    expect(metricValue(samples, 'mcm_webhook_attempts_total', { outcome: 'retrying' })).toBe(1);
    expect(metricValue(samples, 'mcm_webhook_attempts_total', { outcome: 'delivered' })).toBe(1);
    expect(metricValue(samples, 'mcm_webhook_attempt_duration_seconds_count')).toBe(2);
  });

  it('labels HTTP requests by route template, never by the raw path, and unmatched paths as one', async () => {
    const metrics = new AppMetrics();
    const app = express();
    app.use(observeHttp(metrics));
    app.get('/v1/moments/:id', (_request, response) => {
      response.status(200).json({});
    });
    const server = createServer(app).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      for (const id of ['a', 'b', 'c']) await (await fetch(`${base}/v1/moments/${id}`)).arrayBuffer();
      for (const path of ['/wp-admin', '/.env']) await (await fetch(`${base}${path}`)).arrayBuffer();
    } finally {
      server.close();
    }
    const samples = await scrape(metrics);
    expect(metricValue(samples, 'mcm_http_requests_total', { method: 'GET', route: '/v1/moments/:id', status: '200' })).toBe(3);
    expect(metricValue(samples, 'mcm_http_request_duration_seconds_count', { method: 'GET', route: '/v1/moments/:id', status: '200' })).toBe(3);
    expect(metricValue(samples, 'mcm_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' })).toBe(2);
    expect(samples.filter((sample) => sample.name === 'mcm_http_requests_total')).toHaveLength(2);
  });
});
