import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ROOT_CONTEXT, SpanKind, context } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MusicToolsClient } from '@mcm/core/mcp/music-tools.client';
import { AppMetrics } from '@mcm/core/observability/metrics';
import { contextFrom, inSpan, startTracing, stopTracing, traceCarrier } from '@mcm/core/observability/tracing';
import { VALID_BLUEPRINT } from '../test/fixtures';
import { startMusicToolsHttp, type MusicToolsHttp } from './http';

/**
 * The trace context crosses into music-tools in the MCP request's `_meta`, and nowhere else: spans
 * are collected in memory, and every call starts from the root context of this process.
 */
describe('trace context through MCP _meta', () => {
  const exporter = new InMemorySpanExporter();
  let http: MusicToolsHttp;

  beforeAll(async () => {
    await startTracing('music-tools', {}, { spanProcessors: [new SimpleSpanProcessor(exporter)] });
    http = await startMusicToolsHttp({ port: 0, metrics: new AppMetrics() });
  });

  afterAll(async () => {
    await http?.close();
    await stopTracing();
  });

  const named = (name: string, kind: SpanKind): ReadableSpan | undefined => exporter.getFinishedSpans().find((span) => span.name === name && span.kind === kind);
  // A server span ends when its response closes on the server's side, which can come after the client has read the answer.
  const ended = (name: string, kind: SpanKind): Promise<ReadableSpan> => vi.waitFor(() => named(name, kind) ?? Promise.reject(new Error(`no finished span ${name}`)), { timeout: 5_000 });

  it('continues the traceparent a caller puts in _meta in the tool call span', async () => {
    const traceId = randomBytes(16).toString('hex');
    const parentId = randomBytes(8).toString('hex');
    const client = new Client({ name: 'trace-spec', version: '1.0.0' });
    // No context is active: only the `_meta` field can carry the caller's trace.
    await context.with(ROOT_CONTEXT, async () => {
      await client.connect(new StreamableHTTPClientTransport(new URL(http.url)));
      await client.callTool({ name: 'blueprint_duration', arguments: { blueprint: VALID_BLUEPRINT }, _meta: { traceparent: `00-${traceId}-${parentId}-01` } });
      await client.close();
    });
    const span = await ended('mcp blueprint_duration', SpanKind.SERVER);
    expect(span.spanContext().traceId).toBe(traceId);
    expect(span.parentSpanContext?.spanId).toBe(parentId);
    expect(span.attributes).toMatchObject({ 'rpc.system': 'mcp', 'rpc.method': 'blueprint_duration' });
  });

  it("carries the worker's span from a queue message's carrier through the client's _meta into music-tools' span", async () => {
    exporter.reset();
    // What the api puts in the job data, and the worker reads back.
    const carrier = await inSpan('POST /v1/moments', { kind: SpanKind.SERVER }, async () => traceCarrier());
    expect(carrier?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const musicTools = new MusicToolsClient({ baseUrl: http.url });
    await context.with(ROOT_CONTEXT, () => inSpan('stage validate', { kind: SpanKind.CONSUMER, parent: contextFrom(carrier) }, () => musicTools.validateBlueprint(VALID_BLUEPRINT)));

    const api = named('POST /v1/moments', SpanKind.SERVER)!;
    const stage = named('stage validate', SpanKind.CONSUMER)!;
    const call = named('mcp validate_blueprint', SpanKind.CLIENT)!;
    const tool = await ended('mcp validate_blueprint', SpanKind.SERVER);
    const traceId = api.spanContext().traceId;
    expect([stage, call, tool].map((span) => span.spanContext().traceId)).toEqual([traceId, traceId, traceId]);
    expect(stage.parentSpanContext?.spanId).toBe(api.spanContext().spanId);
    expect(call.parentSpanContext?.spanId).toBe(stage.spanContext().spanId);
    expect(tool.parentSpanContext?.spanId).toBe(call.spanContext().spanId);
  });

  it('makes no span for the protocol messages around a call (initialize, notifications)', () => {
    expect(exporter.getFinishedSpans().filter((span) => span.kind === SpanKind.SERVER && !span.name.startsWith('mcp ') && span.name !== 'POST /v1/moments')).toEqual([]);
  });
});
