import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { BOUNDARY, multipart, multipartRequest } from '../../../../test/support/multipart';
import { refusal } from '../../../../test/support/refusal';
import { receiveMultipart, sanitizeFilename } from './multipart-upload';

// 2 KiB of upload allowed.
const receive = (request: IncomingMessage) => receiveMultipart(request, 2 / 1024);

describe('receiveMultipart', () => {
  it('streams the file part to a temp file and hashes it; fields come back as strings', async () => {
    const data = Buffer.alloc(1500, 7);
    const { upload, fields, cleanup } = await receive(
      multipartRequest(
        multipart([
          { name: 'style', value: 'lofi' },
          { name: 'file', filename: '../../etc/passwd', data },
        ]),
      ),
    );
    try {
      expect(upload.size).toBe(1500);
      expect(fields).toEqual({ style: 'lofi' });
      expect(upload.filename).toBe('passwd');
      expect(upload.path).toMatch(/mcm-upload-/);
      expect(await readFile(upload.path!)).toEqual(data);
      expect(upload.sha256).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await cleanup();
    }
    await expect(readFile(upload.path!)).rejects.toThrow();
  });

  it('refuses a file over the limit with 413 UPLOAD_TOO_LARGE while streaming', async () => {
    const body = multipart([{ name: 'file', filename: 'a.wav', data: Buffer.alloc(4096) }]);
    const error = await refusal(receive(multipartRequest(body, { 'content-length': '' })));
    expect(error).toMatchObject({ status: 413, code: 'UPLOAD_TOO_LARGE' });
  });

  it('refuses before reading when Content-Length is already far over the limit', async () => {
    const error = await refusal(receive(multipartRequest(Buffer.alloc(0), { 'content-length': String(50 * 1024 * 1024) })));
    expect(error).toMatchObject({ status: 413, code: 'UPLOAD_TOO_LARGE', extras: { bodyUnread: true } });
  });

  it.each([
    [
      'two files',
      [
        { name: 'file', filename: 'a', data: Buffer.alloc(10) },
        { name: 'file', filename: 'b', data: Buffer.alloc(10) },
      ],
      400,
      'TOO_MANY_FILES',
    ],
    ['another file field', [{ name: 'upload', filename: 'a', data: Buffer.alloc(10) }], 400, 'UNEXPECTED_FILE_FIELD'],
    [
      'a field twice',
      [
        { name: 'style', value: 'a' },
        { name: 'style', value: 'b' },
      ],
      400,
      'DUPLICATE_FIELD',
    ],
    ['too many fields', Array.from({ length: 12 }, (_, i) => ({ name: `f${i}`, value: 'x' })), 400, 'TOO_MANY_FIELDS'],
  ] as const)('refuses %s', async (_name, parts, status, code) => {
    const error = await refusal(receive(multipartRequest(multipart([...parts]))));
    expect(error).toMatchObject({ status, code });
  });

  it('refuses bodies that are not (valid) multipart', async () => {
    expect(await refusal(receive(multipartRequest(Buffer.from('{}'), { 'content-type': 'application/json' })))).toMatchObject({ status: 415, code: 'MULTIPART_REQUIRED' });
    expect(await refusal(receive(multipartRequest(Buffer.from('x'), { 'content-type': 'multipart/form-data' })))).toMatchObject({ status: 400, code: 'INVALID_MULTIPART' });
    const truncated = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc`);
    expect(await refusal(receive(multipartRequest(truncated)))).toMatchObject({ status: 400, code: 'INVALID_MULTIPART' });
  });

  it('reports no path when no file part came', async () => {
    const { upload, cleanup } = await receive(multipartRequest(multipart([{ name: 'title', value: 't' }])));
    expect(upload.path).toBeNull();
    await cleanup();
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
