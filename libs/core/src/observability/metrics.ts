import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { MomentStatus, type Stage } from '@mcm/pipeline';

/** How a stage run ended, as the stage-duration histogram labels it. */
export type StageOutcome = 'succeeded' | 'failed';
/** How a webhook attempt ended: delivered, to be tried again, given up, or stopped by `410 Gone`. */
export type WebhookOutcome = 'delivered' | 'retrying' | 'failed' | 'gone';

/** A stage queue's jobs by state and how long its oldest waiting job has waited, read from BullMQ on each scrape. */
export interface QueueDepth {
  stage: Stage;
  waiting: number;
  active: number;
  delayed: number;
  /** Seconds since the oldest waiting job became ready; 0 when none waits. */
  oldestWaitingSeconds: number;
}

/** Stage work takes milliseconds (compose) to minutes (long renders). */
const STAGE_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];
/** A phone clip's preview takes about a second to tens of seconds end to end; retries make it minutes. */
const MOMENT_BUCKETS = [0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 900];
const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const WEBHOOK_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Requests to paths no route matched share one label, so probes for random paths cannot grow the series without bound. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * Every metric one process serves at `/metrics`, in its own prom-client registry: the api and
 * music-tools count HTTP requests, the worker times stages and webhook deliveries, and each app
 * that commits a moment's last transition records its end-to-end latency. Gauges that describe
 * the whole deployment (moments by status, queue depth) are read from Postgres and BullMQ when
 * scraped, through the readers the app attaches.
 */
export class AppMetrics {
  readonly registry = new Registry();

  readonly stageDuration = new Histogram({
    name: 'mcm_stage_duration_seconds',
    help: "Time a stage's work took in the worker, by stage and outcome",
    labelNames: ['stage', 'outcome'] as const,
    buckets: STAGE_BUCKETS,
    registers: [this.registry],
  });

  readonly momentLatency = new Histogram({
    name: 'mcm_moment_duration_seconds',
    help: 'Time from a moment’s creation to its terminal status (COMPLETED, FAILED or CANCELED), by that status',
    labelNames: ['status'] as const,
    buckets: MOMENT_BUCKETS,
    registers: [this.registry],
  });

  readonly webhookDeliveries = new Counter({
    name: 'mcm_webhook_attempts_total',
    help: 'Webhook delivery attempts, by outcome: delivered, retrying, failed (out of attempts) or gone (410)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly webhookLatency = new Histogram({
    name: 'mcm_webhook_attempt_duration_seconds',
    help: 'Time a webhook attempt took, from sending to the answer or the error, by outcome',
    labelNames: ['outcome'] as const,
    buckets: WEBHOOK_BUCKETS,
    registers: [this.registry],
  });

  readonly httpRequests = new Counter({
    name: 'mcm_http_requests_total',
    help: 'HTTP requests answered, by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: 'mcm_http_request_duration_seconds',
    help: 'Time from receiving an HTTP request to the end of its answer, by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: HTTP_BUCKETS,
    registers: [this.registry],
  });

  /** Each deployment-wide gauge is registered once, by the first reader attached. */
  private readonly watching = new Set<'moments' | 'queues'>();

  /** Moments by status across the deployment; served only by an app that attached a reader (the api). */
  watchMomentStatuses(read: () => Promise<Map<string, number>>): void {
    if (this.watching.has('moments')) return;
    this.watching.add('moments');
    new Gauge({
      name: 'mcm_moments',
      help: 'Moments by status, as Postgres holds them',
      labelNames: ['status'] as const,
      registers: [this.registry],
      async collect() {
        const counts = await read().catch(() => null);
        // An unreachable database leaves the series out of this scrape rather than reporting zeros.
        this.reset();
        if (!counts) return;
        for (const status of Object.values(MomentStatus)) this.set({ status }, counts.get(status) ?? 0);
      },
    });
  }

  /** Queue depth and the oldest waiting job's age per stage; served by the workers, for the stages each one serves. */
  watchQueues(read: () => Promise<QueueDepth[]>): void {
    if (this.watching.has('queues')) return;
    this.watching.add('queues');
    // Both gauges come from one read per scrape: the second collect within a second reuses the first's.
    let last: { at: number; depths: Promise<QueueDepth[] | null> } | undefined;
    const depths = () => {
      if (!last || performance.now() - last.at > 1_000) last = { at: performance.now(), depths: read().catch(() => null) };
      return last.depths;
    };
    new Gauge({
      name: 'mcm_queue_jobs',
      help: 'Jobs in a stage queue, by stage and state (waiting, active, delayed)',
      labelNames: ['stage', 'state'] as const,
      registers: [this.registry],
      async collect() {
        const queues = await depths();
        this.reset();
        for (const queue of queues ?? []) {
          this.set({ stage: queue.stage, state: 'waiting' }, queue.waiting);
          this.set({ stage: queue.stage, state: 'active' }, queue.active);
          this.set({ stage: queue.stage, state: 'delayed' }, queue.delayed);
        }
      },
    });
    new Gauge({
      name: 'mcm_queue_oldest_waiting_seconds',
      help: 'Age of the oldest job waiting in a stage queue (0 when none waits), by stage',
      labelNames: ['stage'] as const,
      registers: [this.registry],
      async collect() {
        const queues = await depths();
        this.reset();
        for (const queue of queues ?? []) this.set({ stage: queue.stage }, queue.oldestWaitingSeconds);
      },
    });
  }

  /** The process's own figures (CPU, memory, event-loop lag, GC, handles), for the process that serves the metrics. */
  collectProcessMetrics(): void {
    collectDefaultMetrics({ register: this.registry });
  }

  /** The Prometheus text exposition of everything above. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  observeStage(stage: Stage, outcome: StageOutcome, seconds: number): void {
    this.stageDuration.observe({ stage, outcome }, seconds);
  }

  observeMomentEnded(status: string, createdAt: Date, endedAt = new Date()): void {
    this.momentLatency.observe({ status }, Math.max(0, (endedAt.getTime() - createdAt.getTime()) / 1000));
  }

  observeWebhookAttempt(outcome: WebhookOutcome, seconds: number): void {
    this.webhookDeliveries.inc({ outcome });
    this.webhookLatency.observe({ outcome }, seconds);
  }

  /**
   * Counts and times one HTTP request once its answer ends (or the client goes away). `route`
   * is read then, when the router has matched the request: the template, never the raw path.
   */
  trackHttpRequest(request: IncomingMessage, response: ServerResponse, route: () => string | undefined): void {
    const started = process.hrtime.bigint();
    response.once('close', () => {
      const labels = { method: request.method ?? 'GET', route: route() ?? UNMATCHED_ROUTE, status: String(response.statusCode) };
      this.httpRequests.inc(labels);
      this.httpDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
    });
  }
}
