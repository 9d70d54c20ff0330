import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../problem/app-error';
import { UploadService, sanitizeFilename } from './upload.service';

const BOUNDARY = 'mcmtestboundary';

type Part = { name: string; value: string } | { name: string; filename: string; data: Buffer };

function multipart(parts: Part[]): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition =
      'filename' in part ? `form-data; name="${part.name}"; filename="${part.filename}"\r\nContent-Type: application/octet-stream` : `form-data; name="${part.name}"`;
    chunks.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: ${disposition}\r\n\r\n`));
    chunks.push('filename' in part ? part.data : Buffer.from(part.value));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(chunks);
}

function request(body: Buffer, headers: Record<string, string> = {}): IncomingMessage {
  const stream = Readable.from([body]) as unknown as IncomingMessage;
  Object.assign(stream, { headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'content-length': String(body.length), ...headers } });
  return stream;
}

async function refusal(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

// 2 KiB of upload allowed.
const uploads = new UploadService({ MAX_UPLOAD_MB: 2 / 1024, MAX_AUDIO_SECONDS: 5, MIN_AUDIO_SECONDS: 0.5, MAX_CONCURRENT_PROBES: 1, PROBE_TIMEOUT_MS: 30_000 });

const WAV_HEADER = Buffer.concat([
  Buffer.from('RIFF'),
  Buffer.from([36, 0, 0, 0]),
  Buffer.from('WAVEfmt '),
  Buffer.from([16, 0, 0, 0, 1, 0, 1, 0, 0x44, 0xac, 0, 0, 0x88, 0x58, 1, 0, 2, 0, 16, 0]),
  Buffer.from('data'),
  Buffer.from([0, 0, 0, 0]),
]);
const PNG_HEADER = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');

describe('UploadService.receive', () => {
  it('streams the file part to a temp file and hashes it; fields come back as strings', async () => {
    const data = Buffer.alloc(1500, 7);
    const upload = await uploads.receive(request(multipart([{ name: 'style', value: 'lofi' }, { name: 'file', filename: '../../etc/passwd', data }])));
    try {
      expect(upload.size).toBe(1500);
      expect(upload.fields).toEqual({ style: 'lofi' });
      expect(upload.filename).toBe('passwd');
      expect(upload.path).toMatch(/mcm-upload-/);
      expect(await readFile(upload.path!)).toEqual(data);
      expect(upload.sha256).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await upload.cleanup();
    }
    await expect(readFile(upload.path!)).rejects.toThrow();
  });

  it('refuses a file over the limit with 413 UPLOAD_TOO_LARGE while streaming', async () => {
    const body = multipart([{ name: 'file', filename: 'a.wav', data: Buffer.alloc(4096) }]);
    const error = await refusal(uploads.receive(request(body, { 'content-length': '' })));
    expect(error).toMatchObject({ status: 413, code: 'UPLOAD_TOO_LARGE' });
  });

  it('refuses before reading when Content-Length is already far over the limit', async () => {
    const error = await refusal(uploads.receive(request(Buffer.alloc(0), { 'content-length': String(50 * 1024 * 1024) })));
    expect(error).toMatchObject({ status: 413, code: 'UPLOAD_TOO_LARGE', extras: { bodyUnread: true } });
  });

  it.each([
    ['two files', [{ name: 'file', filename: 'a', data: Buffer.alloc(10) }, { name: 'file', filename: 'b', data: Buffer.alloc(10) }], 400, 'TOO_MANY_FILES'],
    ['another file field', [{ name: 'upload', filename: 'a', data: Buffer.alloc(10) }], 400, 'UNEXPECTED_FILE_FIELD'],
    ['a field twice', [{ name: 'style', value: 'a' }, { name: 'style', value: 'b' }], 400, 'DUPLICATE_FIELD'],
    ['too many fields', Array.from({ length: 12 }, (_, i) => ({ name: `f${i}`, value: 'x' })), 400, 'TOO_MANY_FIELDS'],
  ] as const)('refuses %s', async (_name, parts, status, code) => {
    const error = await refusal(uploads.receive(request(multipart([...parts]))));
    expect(error).toMatchObject({ status, code });
  });

  it('refuses bodies that are not (valid) multipart', async () => {
    expect(await refusal(uploads.receive(request(Buffer.from('{}'), { 'content-type': 'application/json' })))).toMatchObject({ status: 415, code: 'MULTIPART_REQUIRED' });
    expect(await refusal(uploads.receive(request(Buffer.from('x'), { 'content-type': 'multipart/form-data' })))).toMatchObject({ status: 400, code: 'INVALID_MULTIPART' });
    const truncated = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc`);
    expect(await refusal(uploads.receive(request(truncated)))).toMatchObject({ status: 400, code: 'INVALID_MULTIPART' });
  });

  it('reports no path when no file part came', async () => {
    const upload = await uploads.receive(request(multipart([{ name: 'title', value: 't' }])));
    expect(upload.path).toBeNull();
    await upload.cleanup();
  });
});

describe('UploadService.sniff', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcm-sniff-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const sniff = async (name: string, bytes: Buffer) => {
    const path = join(dir, name);
    await writeFile(path, bytes);
    return uploads.sniff(path);
  };

  it('recognises audio by its bytes whatever the name', async () => {
    expect(await sniff('clip.png', Buffer.concat([WAV_HEADER, Buffer.alloc(64)]))).toEqual({ ext: 'wav', mime: 'audio/wav', demuxer: 'wav' });
  });

  it('refuses images and text with 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    expect(await refusal(sniff('photo.wav', PNG_HEADER))).toMatchObject({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
    expect(await refusal(sniff('notes.mp3', Buffer.from('just some text, not audio at all')))).toMatchObject({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
  });
});

describe('UploadService.probe', () => {
  const take = join(__dirname, '../../../../test/fixtures/voice-clean.wav');
  const wav = { ext: 'wav', mime: 'audio/wav', demuxer: 'wav' };
  const checker = new UploadService({ MAX_UPLOAD_MB: 25, MAX_AUDIO_SECONDS: 60, MIN_AUDIO_SECONDS: 0.5, MAX_CONCURRENT_PROBES: 1, PROBE_TIMEOUT_MS: 30_000 });

  it('checks at most MAX_CONCURRENT_PROBES uploads at once and tells the next client when to retry', async () => {
    const clientGone = new AbortController();
    const running = checker.probe(take, wav, clientGone.signal);
    expect(await refusal(checker.probe(take, wav))).toMatchObject({ status: 503, code: 'AUDIO_ENGINE_BUSY', extras: { headers: { 'Retry-After': '2' } } });
    clientGone.abort();
    expect(await refusal(running)).toMatchObject({ status: 400, code: 'REQUEST_ABORTED' });
    // The aborted check gave its slot back.
    expect(await checker.probe(take, wav)).toMatchObject({ format: 'wav', channels: 1 });
  });
});

describe('sanitizeFilename', () => {
  it.each([
    ['../../etc/passwd', 'passwd'],
    ['C:\\Users\\me\\hum.m4a', 'hum.m4a'],
    ['a\u0000b\u0007c\n.wav', 'abc.wav'],
    ['..', null],
    ['', null],
    [undefined, null],
  ])('%j → %j', (raw, expected) => {
    expect(sanitizeFilename(raw)).toBe(expected);
  });

  it('keeps at most 255 characters', () => {
    expect(sanitizeFilename('x'.repeat(10_000))).toHaveLength(255);
  });
});
