import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { presignedObjectKey, type StorageLocation } from '@mcm/core/storage/presigned-url';
import { MOMENT_KEY_PREFIX } from '@mcm/pipeline';
import { ToolFailure } from './tool-failure';

export interface StemTransferOptions {
  /** The only storage whose presigned URLs are fetched or PUT; without it every URL is refused. */
  storage?: StorageLocation;
  /** Largest stem accepted, so a wrong URL cannot fill the disk. */
  maxStemBytes?: number;
  timeoutMs?: number;
  /** music-tools' own log: the only place the cause of a failed transfer is told. */
  log?: (line: string) => void;
}

const DEFAULT_MAX_STEM_BYTES = 256 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 120_000;

/** One text per code: a caller cannot tell a refused connection, an HTTP status or a timeout apart. */
const NOT_ALLOWED = "Only presigned URLs of this service's storage are accepted.";
const DOWNLOAD_FAILED = 'A stem could not be downloaded from storage.';
const UPLOAD_FAILED = 'A result could not be uploaded to storage.';

/** Server-side trouble and throttling can pass; other client errors (missing object, bad signature) will not. */
function retryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** Only the origin and path are logged: the query string of a presigned URL is a credential. */
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
  private readonly storage?: StorageLocation;
  private readonly maxStemBytes: number;
  private readonly timeoutMs: number;
  private readonly log: (line: string) => void;

  constructor(options: StemTransferOptions = {}) {
    this.storage = options.storage;
    this.maxStemBytes = options.maxStemBytes ?? DEFAULT_MAX_STEM_BYTES;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.log = options.log ?? (() => undefined);
  }

  /** Refuses, before any connection, a URL that is not presigned for a moment's object in the configured bucket. */
  assertAllowed(url: string): void {
    const key = this.storage ? presignedObjectKey(url, this.storage) : null;
    if (key?.startsWith(MOMENT_KEY_PREFIX)) return;
    this.log(`refused a URL outside the storage allow-list: ${redact(url)}`);
    throw new ToolFailure('URL_NOT_ALLOWED', NOT_ALLOWED, false);
  }

  private failure(code: string, message: string, retryable: boolean, url: string, cause: string): ToolFailure {
    this.log(`${code} ${redact(url)}: ${cause}`);
    return new ToolFailure(code, message, retryable);
  }

  /** Streams a stem to `destination`, refusing anything larger than the limit without buffering it. */
  async download(url: string, destination: string, signal?: AbortSignal): Promise<number> {
    this.assertAllowed(url);
    const code = 'STEM_DOWNLOAD_FAILED';
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let response: Response;
    try {
      // A redirect is an answer, never followed: storage does not redirect presigned reads.
      response = await fetch(url, { signal: combined, redirect: 'manual' });
    } catch (error) {
      throw this.failure(code, DOWNLOAD_FAILED, true, url, errorMessage(error));
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      throw this.failure(code, DOWNLOAD_FAILED, retryableStatus(response.status), url, `HTTP ${response.status}`);
    }
    const tooLarge = `A stem is larger than the limit of ${this.maxStemBytes} bytes.`;
    const declared = Number(response.headers.get('content-length') ?? NaN);
    if (declared > this.maxStemBytes) {
      await response.body.cancel();
      throw this.failure('STEM_TOO_LARGE', tooLarge, false, url, `declared ${declared} bytes`);
    }
    let received = 0;
    const limit = this.maxStemBytes;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        if (received > limit) callback(new ToolFailure('STEM_TOO_LARGE', tooLarge, false));
        else callback(null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), counter, createWriteStream(destination));
    } catch (error) {
      if (error instanceof ToolFailure) throw this.failure(error.code, error.message, error.retryable, url, `more than ${limit} bytes`);
      throw this.failure(code, DOWNLOAD_FAILED, true, url, `broke off: ${errorMessage(error)}`);
    }
    if (received === 0) throw this.failure(code, DOWNLOAD_FAILED, false, url, 'empty object');
    return received;
  }

  /**
   * PUTs a file to a presigned URL with an exact Content-Length (S3 refuses chunked
   * uploads to presigned URLs), streaming it so memory does not grow with the file.
   * node:http never follows a redirect, so a 3xx fails like any other non-2xx answer.
   */
  async upload(source: string, url: string, contentType: string, signal?: AbortSignal): Promise<void> {
    this.assertAllowed(url);
    const code = 'UPLOAD_FAILED';
    const { size } = await stat(source);
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : http;
    await new Promise<void>((resolve, reject) => {
      const request = client.request(target, {
        method: 'PUT',
        headers: { 'Content-Type': contentType, 'Content-Length': size },
        timeout: this.timeoutMs,
        signal,
      });
      request.on('timeout', () => request.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      request.on('error', (error) => reject(this.failure(code, UPLOAD_FAILED, true, url, errorMessage(error))));
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.length < 16 && chunks.push(chunk));
        response.on('error', (error) => reject(this.failure(code, UPLOAD_FAILED, true, url, errorMessage(error))));
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve();
          // S3 names the reason in an XML <Code>, e.g. SignatureDoesNotMatch or AccessDenied.
          const reason = /<Code>([^<]+)<\/Code>/.exec(Buffer.concat(chunks).toString('utf8'))?.[1];
          reject(this.failure(code, UPLOAD_FAILED, retryableStatus(status), url, `HTTP ${status}${reason ? ` (${reason})` : ''}`));
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
