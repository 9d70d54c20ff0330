import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { MomentFailedError, MomentsApiError, MomentsClient, MomentTimeoutError, type CreateMomentResponse, type Moment } from '@main-character/sdk';
import { makeWorkDirectory } from '@mcm/audio';
import type { StorageLocation } from '@mcm/core/storage/presigned-url';
import { errorMessage, StemTransfer } from './stem-transfer';
import { ToolFailure } from './tool-failure';

export interface MomentsApiOptions {
  /** The api's base URL, e.g. `http://127.0.0.1:3000` (`MCM_API_URL`). */
  baseUrl: string;
  /** A client key of the api's `API_KEYS` (`MCM_API_KEY`); needed when the api has keys. */
  apiKey?: string;
  /** Larger recordings are refused here, as the api would (`MAX_UPLOAD_MB`). */
  maxUploadBytes: number;
  /** The storage the api presigns its URLs for; the preview is fetched from there only. */
  storage?: StorageLocation;
  log?: (line: string) => void;
  /** Tests and proxies; the global fetch otherwise. */
  fetch?: typeof fetch;
}

export interface CreateMomentFields {
  filename?: string;
  style?: string;
  title?: string;
  lyrics?: string;
}

export interface WaitOutcome {
  moment: Moment;
  /** The moment had not finished when the wait ran out. */
  timedOut: boolean;
}

/** A recording is refused with this much said when its bytes are not base64. */
const NOT_BASE64 = 'audio_base64 is not base64: send the bytes of the recording encoded with the standard base64 alphabet (A-Z a-z 0-9 + /, = padding), not a URL or a file path.';

function withoutCredentials(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.toString().replace(/\/+$/, '');
}

/** Throttling and server trouble can pass; other refusals will not. */
function retryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/**
 * The api as the agent tools see it: the published SDK, with every answer or failure turned into
 * a ToolFailure an agent can act on. It never reaches into the api's database or storage keys.
 */
export class MomentsApi {
  readonly baseUrl: string;
  readonly maxUploadBytes: number;
  /** The base URL as answers and logs may show it. */
  private readonly shownUrl: string;
  private readonly client: MomentsClient;
  private readonly transfer: StemTransfer;
  private readonly log: (line: string) => void;

  constructor(options: MomentsApiOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.shownUrl = withoutCredentials(this.baseUrl);
    this.maxUploadBytes = options.maxUploadBytes;
    this.log = options.log ?? (() => undefined);
    this.client = new MomentsClient({ baseUrl: this.baseUrl, apiKey: options.apiKey, fetch: options.fetch });
    this.transfer = new StemTransfer({ storage: options.storage, log: this.log, maxStemBytes: 64 * 1024 * 1024 });
  }

  /** Decodes a base64 recording, refusing anything else, or anything larger than the api takes, before a byte is sent. */
  decodeAudio(audioBase64: string): Buffer {
    const text = audioBase64.replace(/^data:[\w.+/-]*(;[\w=.+-]*)*;base64,/i, '').replace(/\s+/g, '');
    if (!text || text.length % 4 === 1 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw new ToolFailure('INVALID_AUDIO_BASE64', NOT_BASE64, false);
    const bytes = Math.floor((text.length * 3) / 4) - (text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0);
    if (bytes > this.maxUploadBytes) {
      throw new ToolFailure('UPLOAD_TOO_LARGE', `The recording is ${bytes} bytes; the api takes at most ${this.maxUploadBytes} bytes (MAX_UPLOAD_MB).`, false);
    }
    return Buffer.from(text, 'base64');
  }

  async create(audio: Buffer, fields: CreateMomentFields, signal?: AbortSignal): Promise<CreateMomentResponse> {
    return this.call(() => this.client.createMoment(new Uint8Array(audio), { filename: fields.filename ?? 'recording', style: fields.style, title: fields.title, lyrics: fields.lyrics, signal }));
  }

  async get(id: string, signal?: AbortSignal): Promise<Moment> {
    return this.call(() => this.client.getMoment(id, { signal }));
  }

  /**
   * Follows the moment (live events, polling when they are unavailable) until it is COMPLETED or
   * `timeoutMs` runs out; a FAILED or CANCELED moment is a ToolFailure with the api's public message.
   */
  async wait(id: string, options: { timeoutMs: number; onProgress: (moment: Moment) => void; signal?: AbortSignal }): Promise<WaitOutcome> {
    // One plain read first: an unknown moment or an api that is down is said at once, not after the whole wait.
    await this.get(id, options.signal);
    try {
      const moment = await this.client.waitForMoment(id, options);
      return { moment, timedOut: false };
    } catch (error) {
      if (error instanceof MomentFailedError) {
        const cause = error.error;
        const message = cause ? `${cause.message}${cause.stage ? ` (stage ${cause.stage}, ${cause.code})` : ` (${cause.code})`}` : 'The moment was canceled.';
        throw new ToolFailure(error.status === 'CANCELED' ? 'MOMENT_CANCELED' : 'MOMENT_FAILED', message, false);
      }
      if (error instanceof MomentTimeoutError) return { moment: error.moment ?? (await this.get(id, options.signal)), timedOut: true };
      throw this.failure(error);
    }
  }

  /** The preview MP3's bytes, read from the presigned URL the api gave, which must be one of the configured storage. */
  async fetchPreview(url: string, signal?: AbortSignal): Promise<Buffer> {
    const workdir = await makeWorkDirectory('preview');
    try {
      const file = path.join(workdir, 'preview.mp3');
      await this.transfer.download(url, file, signal);
      return await readFile(file);
    } finally {
      await rm(workdir, { recursive: true, force: true });
    }
  }

  private async call<T>(request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw this.failure(error);
    }
  }

  /** What went wrong between here and the api, in terms an agent (or its operator) can act on. */
  private failure(error: unknown): ToolFailure {
    if (error instanceof ToolFailure) return error;
    if (error instanceof MomentsApiError) {
      const hint = error.status === 401 ? ' Set MCM_API_KEY to a key the api lists in API_KEYS.' : '';
      return new ToolFailure(error.code, `${error.problem.detail ?? error.problem.title}${hint}`, retryableStatus(error.status));
    }
    if (error instanceof Error && error.name === 'AbortError') return new ToolFailure('CANCELED', 'The request was canceled', true);
    this.log(`moments api at ${this.shownUrl} unreachable: ${errorMessage(error)}`);
    return new ToolFailure('API_UNREACHABLE', `The moments api at ${this.shownUrl} cannot be reached. Start it (npm start runs the whole stack) or point MCM_API_URL at it.`, true);
  }
}
