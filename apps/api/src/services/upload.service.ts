import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Inject, Injectable } from '@nestjs/common';
import busboy from 'busboy';
import { fileTypeFromFile } from 'file-type';
import { AudioError, makeWorkDirectory, probeAudio, uploadDemuxer, type AudioProbe } from '@mcm/audio';
import { APP_CONFIG, type ApiConfig } from '@mcm/core';
import { AppError } from '../problem/app-error';
import { renderProblem, sendProblem } from '../problem/problem-details.filter';

/** How long a client told the engine is busy waits before trying again, in seconds: a check takes well under that. */
const BUSY_RETRY_AFTER_SECONDS = 2;

/** Room for the multipart envelope and text fields on top of the file itself. */
export const MULTIPART_SLACK_BYTES = 1024 * 1024;
const FIELD_LIMITS = { fields: 8, fieldSize: 512 * 1024, fieldNameSize: 64, parts: 10 };

export interface ReceivedUpload {
  /** The temporary file holding the upload, or null when no `file` part came. */
  path: string | null;
  size: number;
  sha256: string;
  /** The client's file name, sanitised; metadata only, never a path. */
  filename: string | null;
  fields: Record<string, string>;
  /** Removes the temporary file; safe to call twice. */
  cleanup(): Promise<void>;
}

export interface SniffedType {
  ext: string;
  mime: string;
  /** The ffmpeg demuxer the upload is decoded with, here and in the worker. */
  demuxer: string;
}

/** What busboy's lenient UTF-8 decoding puts where bytes were not UTF-8. */
const REPLACEMENT_CHARACTER = '\uFFFD';

const invalidEncoding = (what: string) =>
  new AppError(400, 'INVALID_ENCODING', `${what} is not valid UTF-8. Send text fields and the file name as UTF-8.`);

/** A file name fit to keep as metadata: the last path segment, printable, at most 255 characters. */
export function sanitizeFilename(raw: string | undefined | null): string | null {
  if (!raw) return null;
  const base = raw.normalize('NFC').split(/[/\\]/).pop() ?? '';
  const printable = base.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, '').trim();
  if (!printable || printable === '.' || printable === '..') return null;
  return Array.from(printable).slice(0, 255).join('');
}

/**
 * Receives an upload: streams the single `file` part to a temporary file (memory stays flat),
 * hashes it on the way, enforces the size and part limits, then checks it is audio by content.
 */
@Injectable()
export class UploadService {
  /** Uploads being decoded right now, at most MAX_CONCURRENT_PROBES. */
  private probing = 0;

  constructor(
    @Inject(APP_CONFIG)
    private readonly config: Pick<ApiConfig, 'MAX_UPLOAD_MB' | 'MAX_AUDIO_SECONDS' | 'MIN_AUDIO_SECONDS' | 'MAX_CONCURRENT_PROBES' | 'PROBE_TIMEOUT_MS'>,
  ) {}

  get maxFileBytes(): number {
    return Math.floor(this.config.MAX_UPLOAD_MB * 1024 * 1024);
  }

  async receive(request: IncomingMessage): Promise<ReceivedUpload> {
    const contentType = request.headers['content-type'] ?? '';
    if (!/^multipart\/form-data\b/i.test(contentType)) {
      throw new AppError(415, 'MULTIPART_REQUIRED', 'Send the recording as multipart/form-data with a `file` part.', { bodyUnread: !request.complete });
    }
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > this.maxFileBytes + MULTIPART_SLACK_BYTES) {
      throw this.tooLarge();
    }
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: request.headers,
        limits: { ...FIELD_LIMITS, files: 1, fileSize: this.maxFileBytes },
        defParamCharset: 'utf8',
      });
    } catch (error) {
      throw new AppError(400, 'INVALID_MULTIPART', `The multipart body cannot be read: ${(error as Error).message}.`);
    }

    const directory = await makeWorkDirectory('upload');
    const cleanup = () => rm(directory, { recursive: true, force: true });
    try {
      return { ...(await this.parse(request, parser, join(directory, 'upload'))), cleanup };
    } catch (error) {
      await cleanup();
      throw error;
    }
  }

  private parse(request: IncomingMessage, parser: busboy.Busboy, path: string): Promise<Omit<ReceivedUpload, 'cleanup'>> {
    return new Promise((resolve, reject) => {
      const fields: Record<string, string> = {};
      const hash = createHash('sha256');
      let size = 0;
      let filename: string | null = null;
      let written: Promise<void> | null = null;
      let file: Readable | null = null;
      let failed = false;

      const fail = (error: AppError) => {
        if (failed) return;
        failed = true;
        // Stop reading: what is left of the body is never buffered.
        request.unpipe(parser);
        parser.removeAllListeners('close');
        // With an error, so the write pipeline settles even when the part had already ended.
        file?.destroy(new Error('upload refused'));
        const done = () => reject(new AppError(error.status, error.code, error.detail, { ...error.extras, bodyUnread: !request.complete }));
        (written ?? Promise.resolve()).then(done, done);
      };

      parser.on('file', (name: string, stream: Readable, info: busboy.FileInfo) => {
        if (name !== 'file') {
          stream.resume();
          return fail(new AppError(400, 'UNEXPECTED_FILE_FIELD', `Only one file part, named \`file\`, is accepted (got \`${name.slice(0, 64)}\`).`));
        }
        if (info.filename?.includes(REPLACEMENT_CHARACTER)) {
          stream.resume();
          return fail(invalidEncoding('The file name'));
        }
        file = stream;
        filename = sanitizeFilename(info.filename);
        stream.on('limit', () => fail(this.tooLarge()));
        const counter = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            size += chunk.length;
            hash.update(chunk);
            callback(null, chunk);
          },
        });
        written = pipeline(stream, counter, createWriteStream(path)).catch((error: Error) => {
          fail(new AppError(400, 'INVALID_MULTIPART', `The file part could not be read: ${error.message}.`));
        });
      });
      parser.on('field', (name: string, value: string, info: busboy.FieldInfo) => {
        if (info.nameTruncated) return fail(new AppError(400, 'INVALID_MULTIPART', 'A field name is too long.'));
        if (info.valueTruncated) return fail(new AppError(413, 'FIELD_TOO_LARGE', `The field \`${name}\` is larger than ${FIELD_LIMITS.fieldSize} bytes.`));
        if (name === 'file') return; // text where the recording belongs: reported as FILE_REQUIRED
        if (value.includes(REPLACEMENT_CHARACTER)) return fail(invalidEncoding(`The field \`${name.slice(0, 64)}\``));
        if (name in fields) return fail(new AppError(400, 'DUPLICATE_FIELD', `The field \`${name.slice(0, 64)}\` is given twice.`));
        fields[name] = value;
      });
      parser.on('filesLimit', () => fail(new AppError(400, 'TOO_MANY_FILES', 'Send exactly one file, in the `file` part.')));
      parser.on('fieldsLimit', () => fail(new AppError(400, 'TOO_MANY_FIELDS', 'The form has too many fields.')));
      parser.on('partsLimit', () => fail(new AppError(400, 'TOO_MANY_FIELDS', 'The form has too many parts.')));
      parser.on('error', (error: Error) => fail(new AppError(400, 'INVALID_MULTIPART', `The multipart body is malformed: ${error.message}.`)));
      parser.on('close', () => {
        if (failed) return;
        (written ?? Promise.resolve()).then(() => {
          if (failed) return;
          resolve({ path: written ? path : null, size, sha256: hash.digest('hex'), filename, fields });
        });
      });
      request.on('aborted', () => fail(new AppError(400, 'REQUEST_ABORTED', 'The client closed the request before it ended.')));
      // A chunked body declares no length: count it, so no part (a text field included) can be endless.
      let received = 0;
      const maxBodyBytes = this.maxFileBytes + MULTIPART_SLACK_BYTES;
      request.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > maxBodyBytes) fail(this.tooLarge());
      });
      request.pipe(parser);
    });
  }

  /**
   * The container, read from the first bytes; anything that is not a container a phone or browser
   * records into is refused. The key's extension and the demuxer come from this sniff, never from the client.
   */
  async sniff(path: string): Promise<SniffedType> {
    const type = await fileTypeFromFile(path);
    const demuxer = type ? uploadDemuxer(type.ext) : null;
    if (!type || !demuxer) {
      throw new AppError(
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        type
          ? `The file is ${type.mime}, not audio. Send wav, mp3, m4a/aac, ogg/opus, webm or flac.`
          : 'The file is not a recognised audio format. Send wav, mp3, m4a/aac, ogg/opus, webm or flac.',
      );
    }
    return { ext: type.ext, mime: type.mime, demuxer };
  }

  /**
   * Decodes the upload as the container it was sniffed as, at most a second past MAX_AUDIO_SECONDS,
   * within PROBE_TIMEOUT_MS and only while the client waits: empty, undecodable, broken-off, too long
   * and too quiet or short recordings are refused here. At most MAX_CONCURRENT_PROBES run at once.
   */
  async probe(path: string, type: SniffedType, signal?: AbortSignal): Promise<AudioProbe> {
    if (this.probing >= this.config.MAX_CONCURRENT_PROBES) {
      return this.unavailable('AUDIO_ENGINE_BUSY', 'Too many recordings are being checked right now; try again in a moment.');
    }
    this.probing += 1;
    try {
      return await probeAudio(path, {
        format: type.demuxer,
        maxSeconds: this.config.MAX_AUDIO_SECONDS,
        minAudibleSeconds: this.config.MIN_AUDIO_SECONDS,
        timeoutMs: this.config.PROBE_TIMEOUT_MS,
        signal,
      });
    } catch (error) {
      if (!(error instanceof AudioError)) throw error;
      switch (error.code) {
        case 'AUDIO_TOO_LONG':
          return this.refuse(422, 'AUDIO_TOO_LONG', `The recording is too long: ${error.message}.`);
        case 'AUDIO_TOO_SHORT':
          return this.refuse(422, 'AUDIO_TOO_SHORT', `The recording is too short or too quiet to make a song from: ${error.message}.`);
        case 'AUDIO_EMPTY':
          return this.refuse(422, 'AUDIO_EMPTY', 'The file contains no audio.');
        case 'AUDIO_UNDECODABLE':
          return this.refuse(422, 'AUDIO_UNDECODABLE', 'The audio cannot be decoded; the file may be corrupt or truncated.');
        case 'AUDIO_TRUNCATED':
          return this.refuse(422, 'AUDIO_TRUNCATED', 'The audio breaks off: the decoder failed partway through, so the file is truncated or corrupt.');
        case 'AUDIO_ABORTED':
          return this.refuse(400, 'REQUEST_ABORTED', 'The client closed the request before it was answered.');
        case 'AUDIO_TIMEOUT':
          // The work per upload is bounded by size and length, so running out of time means the engine is starved, not that the file is bad.
          return this.unavailable('AUDIO_CHECK_TIMEOUT', 'The recording could not be checked in time; try again in a moment.');
        default:
          return this.unavailable('AUDIO_ENGINE_UNAVAILABLE', 'The audio could not be checked right now; try again.');
      }
    } finally {
      this.probing -= 1;
    }
  }

  private refuse(status: number, code: string, detail: string): never {
    throw new AppError(status, code, detail);
  }

  /** The engine could not take or finish the check: nothing is wrong with the upload, so the client may retry. */
  private unavailable(code: string, detail: string): never {
    throw new AppError(503, code, detail, { headers: { 'Retry-After': String(BUSY_RETRY_AFTER_SECONDS) } });
  }

  private tooLarge(): AppError {
    return new AppError(413, 'UPLOAD_TOO_LARGE', `The file is larger than ${this.config.MAX_UPLOAD_MB} MB.`, { bodyUnread: true });
  }
}

/**
 * Answers `Expect: 100-continue` requests: an upload whose Content-Length is over the limit gets
 * its 413 before the client sends a byte of the body; every other request is told to continue.
 */
export function gateExpectContinue(server: Server, maxUploadMb: number): void {
  const maxBytes = Math.floor(maxUploadMb * 1024 * 1024) + MULTIPART_SLACK_BYTES;
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      const error = new AppError(413, 'UPLOAD_TOO_LARGE', `The file is larger than ${maxUploadMb} MB.`);
      response.setHeader('Connection', 'close');
      return sendProblem(request, response, renderProblem(error));
    }
    response.writeContinue();
    server.emit('request', request, response);
  });
}
