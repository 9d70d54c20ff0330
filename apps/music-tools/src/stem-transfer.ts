import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { ToolFailure } from './tool-failure';

export interface StemTransferOptions {
  /** Largest stem accepted, so a wrong URL cannot fill the disk. */
  maxStemBytes?: number;
  timeoutMs?: number;
}

const DEFAULT_MAX_STEM_BYTES = 256 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 120_000;

/** Server-side trouble and throttling can pass; other client errors (missing object, bad signature) will not. */
function retryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** Only the origin and path are shown: the query string of a presigned URL is a credential. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/** Moves audio over presigned URLs, the only way files cross between the worker and music-tools (no shared disk). */
export class StemTransfer {
  private readonly maxStemBytes: number;
  private readonly timeoutMs: number;

  constructor(options: StemTransferOptions = {}) {
    this.maxStemBytes = options.maxStemBytes ?? DEFAULT_MAX_STEM_BYTES;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Streams a stem to `destination`, refusing anything larger than the limit without buffering it. */
  async download(url: string, destination: string, signal?: AbortSignal): Promise<number> {
    const code = 'STEM_DOWNLOAD_FAILED';
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let response: Response;
    try {
      response = await fetch(url, { signal: combined, redirect: 'follow' });
    } catch (error) {
      throw new ToolFailure(code, `Could not fetch ${redact(url)}: ${errorMessage(error)}`, true);
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      throw new ToolFailure(code, `Fetching ${redact(url)} answered HTTP ${response.status}`, retryableStatus(response.status));
    }
    const declared = Number(response.headers.get('content-length') ?? NaN);
    if (declared > this.maxStemBytes) {
      await response.body.cancel();
      throw new ToolFailure('STEM_TOO_LARGE', `${redact(url)} is ${declared} bytes; the limit is ${this.maxStemBytes}`, false);
    }
    let received = 0;
    const limit = this.maxStemBytes;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        if (received > limit) callback(new ToolFailure('STEM_TOO_LARGE', `${redact(url)} is larger than ${limit} bytes`, false));
        else callback(null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), counter, createWriteStream(destination));
    } catch (error) {
      if (error instanceof ToolFailure) throw error;
      throw new ToolFailure(code, `Download of ${redact(url)} broke off: ${errorMessage(error)}`, true);
    }
    if (received === 0) throw new ToolFailure(code, `${redact(url)} is empty`, false);
    return received;
  }

  /**
   * PUTs a file to a presigned URL with an exact Content-Length (S3 refuses chunked
   * uploads to presigned URLs), streaming it so memory does not grow with the file.
   */
  async upload(source: string, url: string, contentType: string, signal?: AbortSignal): Promise<void> {
    const code = 'UPLOAD_FAILED';
    const { size } = await stat(source);
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      throw new ToolFailure(code, 'Upload URL is not a valid URL', false);
    }
    const client = target.protocol === 'https:' ? https : http;
    await new Promise<void>((resolve, reject) => {
      const request = client.request(target, {
        method: 'PUT',
        headers: { 'Content-Type': contentType, 'Content-Length': size },
        timeout: this.timeoutMs,
        signal,
      });
      request.on('timeout', () => request.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      request.on('error', (error) => reject(new ToolFailure(code, `Upload to ${redact(url)} failed: ${errorMessage(error)}`, true)));
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.length < 16 && chunks.push(chunk));
        response.on('error', (error) => reject(new ToolFailure(code, `Upload to ${redact(url)} failed: ${errorMessage(error)}`, true)));
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve();
          // S3 names the reason in an XML <Code>, e.g. SignatureDoesNotMatch or AccessDenied.
          const reason = /<Code>([^<]+)<\/Code>/.exec(Buffer.concat(chunks).toString('utf8'))?.[1];
          const detail = reason ? ` (${reason})` : '';
          reject(new ToolFailure(code, `Upload to ${redact(url)} answered HTTP ${status}${detail}`, retryableStatus(status)));
        });
      });
      createReadStream(source)
        .on('error', (error) => request.destroy(error))
        .pipe(request);
    });
  }
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}
