import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/support/free-port';
import { presignedQuery, startTargetServer, startTestStorage, toneWav, type TargetServer, type TestStorage } from '../test/fixtures';
import { StemTransfer } from './stem-transfer';
import { ToolFailure } from './tool-failure';

const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );

describe('StemTransfer over presigned URLs', () => {
  let storage: TestStorage;
  let workdir: string;
  const stem = toneWav(1);
  const logs: string[] = [];
  const transfer = (options: { maxStemBytes?: number } = {}) => new StemTransfer({ storage: storage.location, log: (line) => logs.push(line), ...options });

  beforeAll(async () => {
    storage = await startTestStorage();
    workdir = await mkdtemp(path.join(tmpdir(), 'stem-transfer-spec-'));
    await storage.put('moments/m1/vocals.wav', stem, 'audio/wav');
  });

  afterAll(async () => {
    await storage?.close();
    await rm(workdir, { recursive: true, force: true });
  });

  it('downloads a stem byte for byte', async () => {
    const destination = path.join(workdir, 'vocals.wav');
    const received = await transfer().download(await storage.presignGet('moments/m1/vocals.wav'), destination);
    expect(received).toBe(stem.length);
    expect((await readFile(destination)).equals(stem)).toBe(true);
  });

  it('refuses a missing stem as a non-retryable download failure, with the cause only in its own log', async () => {
    const url = await storage.presignGet('moments/m1/missing.wav');
    const error = await transfer()
      .download(url, path.join(workdir, 'missing.wav'))
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ToolFailure);
    expect(error).toMatchObject({ code: 'STEM_DOWNLOAD_FAILED', retryable: false, message: 'A stem could not be downloaded from storage.' });
    expect(logs.at(-1)).toBe(`STEM_DOWNLOAD_FAILED ${storage.endpoint}/${storage.bucket}/moments/m1/missing.wav: HTTP 404`);
    expect(logs.join('\n')).not.toContain('X-Amz-Signature');
  });

  it('refuses a stem larger than the limit', async () => {
    const error = await transfer({ maxStemBytes: 1000 })
      .download(await storage.presignGet('moments/m1/vocals.wav'), path.join(workdir, 'big.wav'))
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'STEM_TOO_LARGE', retryable: false });
  });

  it('uploads with the content type and refuses unknown credentials', async () => {
    const source = path.join(workdir, 'upload.wav');
    await writeFile(source, stem);
    await transfer().upload(source, await storage.presignPut('moments/m1/master.wav'), 'audio/wav');
    const stored = await storage.get('moments/m1/master.wav');
    expect(stored.body.equals(stem)).toBe(true);
    expect(stored.contentType).toBe('audio/wav');

    const tampered = (await storage.presignPut('moments/m1/other.wav')).replace(/X-Amz-Credential=[^%&]+/, 'X-Amz-Credential=NOBODY');
    const error = await transfer()
      .upload(source, tampered, 'audio/wav')
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'UPLOAD_FAILED', retryable: false, message: 'A result could not be uploaded to storage.' });
    expect(logs.at(-1)).toMatch(/HTTP 403 \(InvalidAccessKeyId\)$/);
  });

  it('refuses, before connecting, URLs that are not presigned for a moment in the configured bucket', async () => {
    const signed = await storage.presignGet('moments/m1/vocals.wav');
    const query = presignedQuery(signed);
    const refused = [
      `${storage.endpoint}/${storage.bucket}/moments/m1/vocals.wav`,
      signed.replace(/X-Amz-Signature=[0-9a-f]+/, 'X-Amz-Signature=forged'),
      signed.replace('X-Amz-Algorithm=AWS4-HMAC-SHA256&', ''),
      `${signed}&X-Amz-Signature=${'0'.repeat(64)}`,
      `${storage.endpoint}/other-bucket/moments/m1/vocals.wav${query}`,
      `${storage.endpoint}/${storage.bucket}/private/m1/vocals.wav${query}`,
      `${storage.endpoint}/${storage.bucket}/moments/m1/..%2F..%2Fprivate/vocals.wav${query}`,
      `${storage.endpoint}/${storage.bucket}/moments/m1/%2e%2e/%2e%2e/private/vocals.wav${query}`,
      signed.replace('http://', 'http://user:pass@'),
      signed.replace('http://', 'https://'),
      signed.replace('127.0.0.1', 'localhost'),
      `http://${storage.bucket}.127.0.0.1:${new URL(storage.endpoint).port}/moments/m1/vocals.wav${query}`,
      `http://169.254.169.254/${storage.bucket}/moments/m1/vocals.wav${query}`,
    ];
    const before = storage.requests.length;
    for (const url of refused) {
      const error = await transfer()
        .download(url, path.join(workdir, 'refused.wav'))
        .catch((caught: unknown) => caught);
      expect(error, url).toMatchObject({ code: 'URL_NOT_ALLOWED', retryable: false, message: "Only presigned URLs of this service's storage are accepted." });
    }
    const source = path.join(workdir, 'upload.wav');
    for (const url of refused) {
      const error = await transfer()
        .upload(source, url, 'audio/wav')
        .catch((caught: unknown) => caught);
      expect(error, url).toMatchObject({ code: 'URL_NOT_ALLOWED', retryable: false });
    }
    expect(storage.requests.slice(before)).toEqual([]);
    expect(await exists(path.join(workdir, 'refused.wav'))).toBe(false);
  });

  it('refuses every URL when no storage is configured', async () => {
    const error = await new StemTransfer().download(await storage.presignGet('moments/m1/vocals.wav'), path.join(workdir, 'x.wav')).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'URL_NOT_ALLOWED' });
  });
});

/** A storage endpoint that misbehaves: the allow-list is pointed at a local server, as a compromised or misrouted storage would be. */
describe('StemTransfer against a storage endpoint that misbehaves', () => {
  let storage: TestStorage;
  let workdir: string;
  const servers: TargetServer[] = [];
  const bucket = 'moments-bucket';

  const transferTo = (origin: string, log?: (line: string) => void) => new StemTransfer({ storage: { endpoint: origin, bucket, forcePathStyle: true }, timeoutMs: 1_000, log });

  beforeAll(async () => {
    storage = await startTestStorage();
    workdir = await mkdtemp(path.join(tmpdir(), 'stem-transfer-misbehaving-'));
    await storage.put('moments/victim/original.wav', toneWav(1), 'audio/wav');
  });

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close()));
    await storage?.close();
    await rm(workdir, { recursive: true, force: true });
  });

  it('does not follow a redirect, for a stem or an upload', async () => {
    const query = presignedQuery(await storage.presignGet('moments/victim/original.wav'));
    const readRedirect = await startTargetServer({ redirectTo: await storage.presignGet('moments/victim/original.wav') });
    const writeRedirect = await startTargetServer({ redirectTo: await storage.presignPut('moments/victim/preview.mp3'), status: 307 });
    servers.push(readRedirect, writeRedirect);
    const url = (server: TargetServer) => `${server.origin}/${bucket}/moments/m1/vocals.wav${query}`;
    const before = storage.requests.length;

    const destination = path.join(workdir, 'redirected.wav');
    const download = await transferTo(readRedirect.origin)
      .download(url(readRedirect), destination)
      .catch((caught: unknown) => caught);
    expect(download).toMatchObject({ code: 'STEM_DOWNLOAD_FAILED', message: 'A stem could not be downloaded from storage.' });
    expect(await exists(destination)).toBe(false);

    const source = path.join(workdir, 'preview.mp3');
    await writeFile(source, 'not the victim preview');
    const upload = await transferTo(writeRedirect.origin)
      .upload(source, url(writeRedirect), 'audio/mpeg')
      .catch((caught: unknown) => caught);
    expect(upload).toMatchObject({ code: 'UPLOAD_FAILED', message: 'A result could not be uploaded to storage.' });

    expect(readRedirect.requests).toEqual([`GET /${bucket}/moments/m1/vocals.wav`]);
    expect(writeRedirect.requests).toEqual([`PUT /${bucket}/moments/m1/vocals.wav`]);
    expect(storage.requests.slice(before)).toEqual([]);
  });

  it('gives one text for a refused connection, an HTTP error and a timeout, and logs the difference', async () => {
    const notFound = await startTargetServer('not-found');
    const hanging = await startTargetServer('hang');
    servers.push(notFound, hanging);
    const origins = { refused: `http://127.0.0.1:${await freePort()}`, notFound: notFound.origin, hanging: hanging.origin };
    const query = presignedQuery(await storage.presignGet('moments/m1/vocals.wav'));
    const source = path.join(workdir, 'master.wav');
    await writeFile(source, toneWav(0.1));

    const downloads: string[] = [];
    const uploads: string[] = [];
    const logs: string[] = [];
    for (const origin of Object.values(origins)) {
      const url = `${origin}/${bucket}/moments/m1/vocals.wav${query}`;
      const transfer = transferTo(origin, (line) => logs.push(line));
      const download = await transfer.download(url, path.join(workdir, 'probe.wav')).catch((caught: unknown) => caught);
      expect(download).toBeInstanceOf(ToolFailure);
      downloads.push(`${(download as ToolFailure).code}: ${(download as ToolFailure).message}`);
      const upload = await transfer.upload(source, url, 'audio/wav').catch((caught: unknown) => caught);
      expect(upload).toBeInstanceOf(ToolFailure);
      uploads.push(`${(upload as ToolFailure).code}: ${(upload as ToolFailure).message}`);
    }
    expect(downloads).toEqual(Array(3).fill('STEM_DOWNLOAD_FAILED: A stem could not be downloaded from storage.'));
    expect(uploads).toEqual(Array(3).fill('UPLOAD_FAILED: A result could not be uploaded to storage.'));
    // The operator still learns what happened.
    expect(logs.join('\n')).toMatch(/ECONNREFUSED/);
    expect(logs.join('\n')).toMatch(/HTTP 404/);
    expect(logs.join('\n')).toMatch(/timeout|aborted|no answer/i);
  });
});
