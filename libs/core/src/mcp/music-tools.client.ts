import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { PipelineError, synthesizePreviewOutput, toolFailureOutput, validateBlueprintOutput, type BlueprintCheck, type PreviewReport, type SynthesizePreviewArgs } from '@mcm/pipeline';
import { inSpan, SpanKind, traceCarrier } from '../observability/tracing';

export type { BlueprintCheck, PreviewReport, SynthesizePreviewArgs } from '@mcm/pipeline';

export interface MusicToolsClientOptions {
  /** The server root (`http://host:8080`) or its MCP endpoint (`http://host:8080/mcp`). */
  baseUrl: string;
  authToken?: string;
  /** Longest a single tool call may take; rendering a preview takes seconds to minutes. */
  timeoutMs?: number;
}

/** A failed call to music-tools: `retryable` says whether the stage may try again. */
export class MusicToolsError extends PipelineError {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'MusicToolsError';
  }
}

const CLIENT_INFO = { name: 'mcm-worker', version: '0.1.0' };

// Read with the very shapes the server publishes, so the two cannot drift apart.
const blueprintCheck = z.object(validateBlueprintOutput);
const previewReport = z.object(synthesizePreviewOutput).extend({ uploaded: z.literal(true), duration_ms: z.number(), loudness_lufs: z.number(), true_peak_dbtp: z.number(), bytes: z.number() });
const toolFailure = z.object(toolFailureOutput).partial();

/** An initialised MCP client, and what settles when its connection is cut. */
interface Connection {
  client: Client;
  lost: Promise<never>;
}

/**
 * Talks to the music-tools MCP server over Streamable HTTP. The server is stateless, so one initialised client
 * serves every call, each its own POST: a call costs one round trip instead of the handshake's three more (about
 * 10 ms each time on loopback). A connection that fails a call is dropped and the next call starts afresh; the calls
 * already under way on it finish on their own, unless a response stream was cut (music-tools gone), which fails them
 * all at once.
 */
export class MusicToolsClient {
  private readonly endpoint: URL;
  private readonly healthUrl: URL;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private connection: Promise<Connection> | null = null;

  constructor(options: MusicToolsClientOptions) {
    const root = options.baseUrl.replace(/\/+$/, '').replace(/\/mcp$/, '');
    this.endpoint = new URL(`${root}/mcp`);
    this.healthUrl = new URL(`${root}/healthz`);
    this.headers = options.authToken ? { Authorization: `Bearer ${options.authToken}` } : {};
    this.timeoutMs = options.timeoutMs ?? 120_000;
  }

  /** An invalid blueprint is an answer (`ok: false`), not an error. */
  async validateBlueprint(blueprint: unknown): Promise<BlueprintCheck> {
    const result = await this.callTool('validate_blueprint', { blueprint });
    const check = blueprintCheck.safeParse(result.structuredContent);
    if (!check.success) throw this.toolError('validate_blueprint', result);
    return check.data;
  }

  async synthesizePreview(args: SynthesizePreviewArgs): Promise<PreviewReport> {
    const result = await this.callTool('synthesize_preview', { ...args });
    if (result.isError) throw this.toolError('synthesize_preview', result);
    const report = previewReport.safeParse(result.structuredContent);
    if (!report.success) throw new MusicToolsError('MCP_BAD_RESPONSE', 'synthesize_preview answered without an upload report', true);
    const { duration_ms, loudness_lufs, true_peak_dbtp, bytes } = report.data;
    return { duration_ms, loudness_lufs, true_peak_dbtp, bytes };
  }

  /** True when the server answers its health check; never throws. */
  async health(): Promise<boolean> {
    try {
      const response = await fetch(this.healthUrl, { signal: AbortSignal.timeout(Math.min(this.timeoutMs, 5_000)) });
      if (!response.ok) return false;
      const body = (await response.json()) as { status?: string };
      return body.status === 'ok';
    } catch {
      return false;
    }
  }

  /** A client span per call; its context travels in the request's `_meta` (`traceparent`), so music-tools' span joins the moment's trace. */
  private callTool(name: string, args: Record<string, unknown>): Promise<CallToolResult> {
    return inSpan(`mcp ${name}`, { kind: SpanKind.CLIENT, attributes: { 'rpc.system': 'mcp', 'rpc.method': name } }, () => this.sendToolCall(name, args, traceCarrier()));
  }

  private async sendToolCall(name: string, args: Record<string, unknown>, trace: Record<string, string> | undefined): Promise<CallToolResult> {
    const connecting = this.connect();
    try {
      const { client, lost } = await connecting;
      const call = client.callTool({ name, arguments: args, ...(trace ? { _meta: trace } : {}) }, undefined, { timeout: this.timeoutMs });
      return (await Promise.race([call, lost])) as CallToolResult;
    } catch (error) {
      this.forget(connecting);
      throw this.transportError(error);
    }
  }

  /** The shared connection, initialised on first use. */
  private connect(): Promise<Connection> {
    this.connection ??= this.open();
    return this.connection;
  }

  /** The next call opens a new connection; one failed call is reason enough to stop trusting this one. */
  private forget(connection: Promise<Connection>): void {
    if (this.connection === connection) this.connection = null;
  }

  private async open(): Promise<Connection> {
    const client = new Client(CLIENT_INFO);
    const transport = new StreamableHTTPClientTransport(this.endpoint, { requestInit: { headers: this.headers } });
    // A response stream cut mid-call (music-tools killed, connection dropped) is reported only
    // through these hooks; without them the calls under way would wait out their whole timeout.
    // Once connected, an HTTP error answers one POST and reaches its own call: it leaves the others be.
    let connected = false;
    let cut: (error: unknown) => void = () => undefined;
    const lost = new Promise<never>((_, reject) => {
      cut = reject;
    });
    lost.catch(() => undefined);
    client.onerror = (error) => {
      if (!connected || !(error instanceof StreamableHTTPError)) cut(error);
    };
    client.onclose = () => cut(new Error('the connection closed before music-tools answered'));
    try {
      await Promise.race([client.connect(transport, { timeout: Math.min(this.timeoutMs, 30_000) }), lost]);
    } catch (error) {
      await client.close().catch(() => undefined);
      throw error;
    }
    connected = true;
    return { client, lost };
  }

  /**
   * Closes the shared connection, failing the calls under way on it; a later call opens a new one. The apps leave it
   * open at shutdown: it holds nothing but idle sockets, and a stage still finishing must keep its call.
   */
  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = null;
    await connection?.then(({ client }) => client.close()).catch(() => undefined);
  }

  private toolError(name: string, result: CallToolResult): MusicToolsError {
    const failure = toolFailure.safeParse(result.structuredContent ?? {});
    const content = failure.success ? failure.data : {};
    const text = result.content.find((part) => part.type === 'text')?.text;
    const message = content.message ?? text ?? `${name} failed`;
    if (content.code) return new MusicToolsError(content.code, message, content.retryable === true);
    // Errors without a code come from the protocol layer (e.g. arguments refused by the input schema): retrying cannot help.
    return new MusicToolsError('MCP_TOOL_ERROR', message, false);
  }

  private transportError(error: unknown): MusicToolsError {
    if (error instanceof MusicToolsError) return error;
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof StreamableHTTPError && (error.code === 401 || error.code === 403)) {
      return new MusicToolsError('MCP_UNAUTHORIZED', `music-tools refused the credentials: ${message}`, false);
    }
    if (error instanceof McpError && error.code === (ErrorCode.RequestTimeout as number)) {
      return new MusicToolsError('MCP_TIMEOUT', `music-tools did not answer within ${this.timeoutMs} ms`, true);
    }
    return new MusicToolsError('MCP_UNAVAILABLE', `music-tools at ${this.endpoint.origin} is unavailable: ${message}`, true);
  }
}
