import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { makeWorkDirectory } from '@mcm/audio';
import { AppError } from '../problem/app-error';
import type { ReceivedUpload } from '../services/create-moment.command';

/** Room for the multipart envelope and text fields on top of the file itself. */
export const MULTIPART_SLACK_BYTES = 1024 * 1024;
const FIELD_LIMITS = { fields: 8, fieldSize: 512 * 1024, fieldNameSize: 64, parts: 10 };

/** A multipart create body taken off the wire: the file on disk, the text fields in memory. */
export interface ReceivedForm {
  upload: ReceivedUpload;
  fields: Record<string, string>;
  /** Removes the temporary file; safe to call twice. */
  cleanup: () => Promise<void>;
}

/** What busboy's lenient UTF-8 decoding puts where bytes were not UTF-8. */
const REPLACEMENT_CHARACTER = '\uFFFD';

const invalidEncoding = (what: string) => new AppError(400, 'INVALID_ENCODING', `${what} is not valid UTF-8. Send text fields and the file name as UTF-8.`);

export const maxFileBytes = (maxUploadMb: number) => Math.floor(maxUploadMb * 1024 * 1024);

/** The largest body a create may send: the file plus its multipart envelope. */
export const maxUploadBodyBytes = (maxUploadMb: number) => maxFileBytes(maxUploadMb) + MULTIPART_SLACK_BYTES;

export function uploadTooLarge(maxUploadMb: number): AppError {
  return new AppError(413, 'UPLOAD_TOO_LARGE', `The file is larger than ${maxUploadMb} MB.`, { bodyUnread: true });
}

/** A file name fit to keep as metadata: the last path segment, printable, at most 255 characters. */
export function sanitizeFilename(raw: string | undefined | null): string | null {
  if (!raw) return null;
  const base = raw.normalize('NFC').split(/[/\\]/).pop() ?? '';
  const printable = base.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, '').trim();
  if (!printable || printable === '.' || printable === '..') return null;
  return Array.from(printable).slice(0, 255).join('');
}

/**
 * Receives a create body: streams the single `file` part to a temporary file (memory stays flat),
 * hashes it on the way and enforces the size and part limits. On a refusal nothing is left on disk.
 */
export async function receiveMultipart(request: IncomingMessage, maxUploadMb: number): Promise<ReceivedForm> {
  const contentType = request.headers['content-type'] ?? '';
  if (!/^multipart\/form-data\b/i.test(contentType)) {
    throw new AppError(415, 'MULTIPART_REQUIRED', 'Send the recording as multipart/form-data with a `file` part.', { bodyUnread: !request.complete });
  }
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxUploadBodyBytes(maxUploadMb)) throw uploadTooLarge(maxUploadMb);
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: request.headers,
      limits: { ...FIELD_LIMITS, files: 1, fileSize: maxFileBytes(maxUploadMb) },
      defParamCharset: 'utf8',
    });
  } catch (error) {
    throw new AppError(400, 'INVALID_MULTIPART', `The multipart body cannot be read: ${(error as Error).message}.`);
  }

  const directory = await makeWorkDirectory('upload');
  const cleanup = () => rm(directory, { recursive: true, force: true });
  try {
    return { ...(await parse(request, parser, join(directory, 'upload'), maxUploadMb)), cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

function parse(request: IncomingMessage, parser: busboy.Busboy, path: string, maxUploadMb: number): Promise<Omit<ReceivedForm, 'cleanup'>> {
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
      stream.on('limit', () => fail(uploadTooLarge(maxUploadMb)));
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
      // `written` never rejects: its catch turns a failed write into fail().
      void (written ?? Promise.resolve()).then(() => {
        if (failed) return;
        resolve({ upload: { path: written ? path : null, size, sha256: hash.digest('hex'), filename }, fields });
      });
    });
    request.on('aborted', () => fail(new AppError(400, 'REQUEST_ABORTED', 'The client closed the request before it ended.')));
    // A chunked body declares no length: count it, so no part (a text field included) can be endless.
    let received = 0;
    const maxBodyBytes = maxUploadBodyBytes(maxUploadMb);
    request.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBodyBytes) fail(uploadTooLarge(maxUploadMb));
    });
    request.pipe(parser);
  });
}
