import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStorage, toneWav, type TestStorage } from '../test/fixtures';
import { StemTransfer } from './stem-transfer';
import { ToolFailure } from './tool-failure';

describe('StemTransfer over presigned URLs', () => {
  let storage: TestStorage;
  let workdir: string;
  const stem = toneWav(1);

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
    const received = await new StemTransfer().download(await storage.presignGet('moments/m1/vocals.wav'), destination);
    expect(received).toBe(stem.length);
    expect((await readFile(destination)).equals(stem)).toBe(true);
  });

  it('refuses a missing stem as a non-retryable download failure without leaking the signature', async () => {
    const url = await storage.presignGet('moments/m1/missing.wav');
    const error = await new StemTransfer().download(url, path.join(workdir, 'missing.wav')).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ToolFailure);
    expect(error).toMatchObject({ code: 'STEM_DOWNLOAD_FAILED', retryable: false });
    expect((error as Error).message).toContain('HTTP 404');
    expect((error as Error).message).not.toContain('X-Amz-Signature');
  });

  it('refuses a stem larger than the limit', async () => {
    const transfer = new StemTransfer({ maxStemBytes: 1000 });
    const error = await transfer.download(await storage.presignGet('moments/m1/vocals.wav'), path.join(workdir, 'big.wav')).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'STEM_TOO_LARGE', retryable: false });
  });

  it('reports an unreachable host as a retryable download failure', async () => {
    const error = await new StemTransfer().download('http://127.0.0.1:1/stem.wav', path.join(workdir, 'x.wav')).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'STEM_DOWNLOAD_FAILED', retryable: true });
  });

  it('uploads with the content type and refuses unknown credentials', async () => {
    const source = path.join(workdir, 'upload.wav');
    await writeFile(source, stem);
    const transfer = new StemTransfer();
    await transfer.upload(source, await storage.presignPut('moments/m1/master.wav'), 'audio/wav');
    const stored = await storage.get('moments/m1/master.wav');
    expect(stored.body.equals(stem)).toBe(true);
    expect(stored.contentType).toBe('audio/wav');

    // s3rver does not check SigV4 signatures, but it does check the access key.
    const tampered = (await storage.presignPut('moments/m1/other.wav')).replace('X-Amz-Credential=S3RVER', 'X-Amz-Credential=NOBODY');
    const error = await transfer.upload(source, tampered, 'audio/wav').catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'UPLOAD_FAILED', retryable: false });
    expect((error as Error).message).toMatch(/HTTP 403 \(InvalidAccessKeyId\)/);
  });
});
