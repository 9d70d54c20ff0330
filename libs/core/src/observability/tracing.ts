import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { INVALID_SPAN_CONTEXT, ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';

/** W3C trace context as carried in a queue message or an MCP request's `_meta`: `traceparent` and, when present, `tracestate`. */
export type TraceCarrier = Record<string, string>;

interface RunningSdk {
  shutdown(): Promise<void>;
}

/** Spans are made only while the SDK runs; otherwise every helper here costs a branch. */
let sdk: RunningSdk | undefined;

/** True when the environment names an OTLP endpoint for traces and does not disable the SDK. */
export function tracingConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  if (/^(true|1)$/i.test(env.OTEL_SDK_DISABLED ?? '')) return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

/**
 * Starts OpenTelemetry's Node SDK for this process when `OTEL_EXPORTER_OTLP_ENDPOINT` is set:
 * spans go to `<endpoint>/v1/traces` as OTLP/HTTP JSON in batches, under `service.name`
 * `serviceName` (or `OTEL_SERVICE_NAME`). The SDK reads the other `OTEL_*` settings itself.
 * Without an endpoint nothing is loaded. Traces only: no metrics or logs are exported over OTLP.
 * `spanProcessors` replaces the OTLP export (tests collect spans in memory).
 */
export async function startTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env, options: { spanProcessors?: SpanProcessor[] } = {}): Promise<boolean> {
  if (sdk) return true;
  if (!options.spanProcessors && !tracingConfigured(env)) return false;
  // Loaded only when wanted: the SDK and its exporters add to every start-up otherwise.
  const [{ NodeSDK }, { OTLPTraceExporter }] = await Promise.all([import('@opentelemetry/sdk-node'), import('@opentelemetry/exporter-trace-otlp-http')]);
  const started = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME?.trim() || serviceName,
    // A test hands its own processors (an in-memory exporter); a deployment exports in batches.
    ...(options.spanProcessors ? { spanProcessors: options.spanProcessors } : { traceExporter: new OTLPTraceExporter() }),
    // Metrics are served by prom-client at /metrics and logs go to stderr: the SDK exports neither.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  started.start();
  sdk = started;
  return true;
}

/** Sends the spans still buffered and stops the SDK; a no-op when tracing is off. */
export async function stopTracing(): Promise<void> {
  const running = sdk;
  sdk = undefined;
  if (!running) return;
  await running.shutdown().catch(() => undefined);
  // The API's globals go back to no-ops, so a later start registers afresh.
  trace.disable();
  propagation.disable();
  context.disable();
}

const tracer = () => trace.getTracer('main-character-moment');

/** The active trace context as a carrier for a message that crosses a process; undefined when there is none to carry. */
export function traceCarrier(): TraceCarrier | undefined {
  if (!sdk) return undefined;
  const carrier: TraceCarrier = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ? carrier : undefined;
}

/** The context a carrier names (from a queue message or `_meta`), ignoring anything that is not a string field. */
export function contextFrom(carrier: unknown): Context {
  if (!sdk || !carrier || typeof carrier !== 'object') return ROOT_CONTEXT;
  const fields: TraceCarrier = {};
  for (const name of ['traceparent', 'tracestate']) {
    const value = (carrier as Record<string, unknown>)[name];
    if (typeof value === 'string') fields[name] = value;
  }
  return propagation.extract(ROOT_CONTEXT, fields);
}

const NO_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The parent; the active context when omitted. */
  parent?: Context;
}

/**
 * Runs `work` inside a span that ends when it settles; a throw marks the span as an error with
 * the error's name only (messages may name internal hosts). With tracing off, `work` runs as is.
 */
export async function inSpan<T>(name: string, options: SpanOptions, work: (span: Span) => Promise<T>): Promise<T> {
  if (!sdk) return work(NO_SPAN);
  const parent = options.parent ?? context.active();
  const span = tracer().startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => work(span));
  } catch (error) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : 'Error' });
    throw error;
  } finally {
    span.end();
  }
}

/**
 * Runs `work` inside a server span that ends when `response` closes: for a request whose answer
 * may stream on after `work` returns. A 5xx answer marks the span as an error.
 */
export async function inServerSpan(name: string, options: SpanOptions, response: ServerResponse, work: () => Promise<void>): Promise<void> {
  if (!sdk) return work();
  const parent = options.parent ?? context.active();
  const span = tracer().startSpan(name, { kind: SpanKind.SERVER, attributes: options.attributes }, parent);
  response.once('close', () => {
    if (response.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
  await context.with(trace.setSpan(parent, span), work);
}

/**
 * Opens a server span for an HTTP request (continuing the caller's `traceparent`, if any), runs
 * `next` inside it, and ends it when the answer ends, named by the route template.
 */
export function traceHttpRequest(request: IncomingMessage, response: ServerResponse, route: () => string | undefined, next: () => void): void {
  if (!sdk) return next();
  const method = request.method ?? 'GET';
  const parent = propagation.extract(ROOT_CONTEXT, request.headers);
  const span = tracer().startSpan(method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'url.path': (request.url ?? '/').split('?')[0] } }, parent);
  response.once('close', () => {
    const template = route();
    if (template) {
      span.updateName(`${method} ${template}`);
      span.setAttribute('http.route', template);
    }
    span.setAttribute('http.response.status_code', response.statusCode);
    if (response.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
  context.with(trace.setSpan(parent, span), next);
}

export { SpanKind, SpanStatusCode };
