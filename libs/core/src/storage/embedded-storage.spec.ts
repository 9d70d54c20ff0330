import { ReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../config/app-config';
import { startEmbeddedStorage, type EmbeddedStorage } from './embedded-storage';
import { describeClientNotice, StorageRepository } from './storage.repository';

const credentials = { accessKeyId: 'embedded-spec-key', secretAccessKey: 'embedded-spec-secret-0123456789' };
const bucket = 'embedded-spec';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** What storage answered: the status and, for an S3 error, its `<Code>`. */
async function answer(response: Response): Promise<{ status: number; code?: string; body: string }> {
  const body = await response.text();
  return { status: response.status, code: /<Code>([^<]+)<\/Code>/.exec(body)?.[1], body };
}

describe('embedded storage checks signatures as S3 does', () => {
  let storage: EmbeddedStorage;
  let directory: string;
  let repository: StorageRepository;
  let client: S3Client;
  const repositoryWith = (secretAccessKey: string, accessKeyId = credentials.accessKeyId) =>
    new StorageRepository({ endpoint: storage.endpoint, region: 'us-east-1', bucket, accessKeyId, secretAccessKey, forcePathStyle: true, presignTtlSeconds: 300 });
  const objectUrl = (key: string) => `${storage.endpoint}/${bucket}/${key}`;

  beforeAll(async () => {
    directory = await mkdtemp(path.join(tmpdir(), 'embedded-storage-spec-'));
    storage = await startEmbeddedStorage({ port: 0, directory, ...credentials });
    repository = repositoryWith(credentials.secretAccessKey);
    client = new S3Client({ endpoint: storage.endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
    await repository.ensureBucket();
    await repository.putBuffer('moments/a/original.wav', Buffer.from('recording of moment a'), 'audio/wav');
    await repository.putBuffer('moments/b/original.wav', Buffer.from('recording of moment b'), 'audio/wav');
  });

  afterAll(async () => {
    repository?.destroy();
    client?.destroy();
    await storage?.close();
    await rm(directory, { recursive: true, force: true });
  });

  it("names a failed command in the S3 client's notice by command and error, without its input", async () => {
    const notices: unknown[] = [];
    const noticing = new S3Client({
      endpoint: storage.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials,
      logger: { debug: () => {}, info: () => {}, warn: () => {}, error: (notice: unknown) => notices.push(notice) },
    });
    try {
      await expect(noticing.send(new GetObjectCommand({ Bucket: bucket, Key: 'moments/none/secret-name.wav' }))).rejects.toThrow();
    } finally {
      noticing.destroy();
    }
    expect(notices).toHaveLength(1);
    expect(describeClientNotice(notices[0])).toBe('GetObjectCommand failed: NoSuchKey (HTTP 404)');
    expect(describeClientNotice('plain words')).toBe('plain words');
  });

  it('listens on loopback only', () => {
    expect(storage.endpoint).toBe(`http://127.0.0.1:${storage.port}`);
    expect(storage.server.address()).toMatchObject({ address: '127.0.0.1', port: storage.port });
  });

  it('refuses an unsigned GET, HEAD or PUT with 403 AccessDenied and S3 XML, and changes nothing', async () => {
    const get = await answer(await fetch(objectUrl('moments/a/original.wav')));
    expect(get).toMatchObject({ status: 403, code: 'AccessDenied' });
    expect(get.body).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error><Code>AccessDenied<\/Code><Message>Access Denied<\/Message><\/Error>$/);
    expect(get.body).not.toContain('recording');
    expect((await fetch(objectUrl('moments/a/original.wav'), { method: 'HEAD' })).status).toBe(403);
    expect((await fetch(`${storage.endpoint}/${bucket}?list-type=2`)).status).toBe(403);

    const put = await answer(await fetch(objectUrl('moments/a/original.wav'), { method: 'PUT', body: 'overwritten' }));
    expect(put).toMatchObject({ status: 403, code: 'AccessDenied' });
    expect((await repository.getBuffer('moments/a/original.wav')).toString()).toBe('recording of moment a');
  });

  it('serves a valid presigned GET and PUT', async () => {
    const get = await fetch(await repository.presignGet('moments/a/original.wav'));
    expect(get.status).toBe(200);
    expect(await get.text()).toBe('recording of moment a');

    const put = await fetch(await repository.presignPut('moments/a/preview.mp3', 'audio/mpeg'), {
      method: 'PUT',
      body: 'preview of moment a',
      headers: { 'content-type': 'audio/mpeg' },
    });
    expect(put.status).toBe(200);
    expect((await repository.getBuffer('moments/a/preview.mp3')).toString()).toBe('preview of moment a');
  });

  it('lets a page of another origin read a presigned GET, and only a signed one', async () => {
    const origin = { origin: 'http://127.0.0.1:3000' };
    const signed = await fetch(await repository.presignGet('moments/a/original.wav'), { headers: origin });
    expect(signed.status).toBe(200);
    expect(signed.headers.get('access-control-allow-origin')).toBe('*');
    const unsigned = await fetch(objectUrl('moments/a/original.wav'), { headers: origin });
    expect(unsigned.status).toBe(403);
    expect(unsigned.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses a presigned GET whose signature is forged', async () => {
    const signed = await repository.presignGet('moments/a/original.wav');
    const forged = signed.replace(/X-Amz-Signature=[0-9a-f]{64}/, `X-Amz-Signature=${'0'.repeat(64)}`);
    expect(forged).not.toBe(signed);
    const refused = await answer(await fetch(forged));
    expect(refused).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
    expect(refused.body).not.toContain('recording');
  });

  it('refuses a presigned URL for one key edited to name another', async () => {
    const signed = await repository.presignGet('moments/a/original.wav');
    const edited = signed.replace('/moments/a/', '/moments/b/');
    expect(edited).not.toBe(signed);
    const refused = await answer(await fetch(edited));
    expect(refused).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
    expect(refused.body).not.toContain('recording');

    const preview = await repository.presignPut('moments/a/preview.mp3', 'audio/mpeg');
    const overwrite = await fetch(preview.replace('/moments/a/', '/moments/b/'), { method: 'PUT', body: 'not b' });
    expect(await answer(overwrite)).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
    await expect(repository.getBuffer('moments/b/preview.mp3')).rejects.toMatchObject({ name: 'NoSuchKey' });
  });

  it('refuses a presigned URL with a parameter added or changed after signing', async () => {
    const signed = await repository.presignGet('moments/a/original.wav');
    expect((await answer(await fetch(`${signed}&response-content-type=text%2Fhtml`))).code).toBe('SignatureDoesNotMatch');
    expect((await answer(await fetch(signed.replace('X-Amz-Expires=300', 'X-Amz-Expires=600')))).code).toBe('SignatureDoesNotMatch');
  });

  it('refuses an expired presigned URL', async () => {
    const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: 'moments/a/original.wav' }), {
      expiresIn: 60,
      signingDate: new Date(Date.now() - 3600_000),
    });
    expect(await answer(await fetch(url))).toMatchObject({ status: 403, code: 'AccessDenied', body: expect.stringContaining('Request has expired') });
  });

  it('refuses URLs signed with another secret or for another key id', async () => {
    const wrongSecret = repositoryWith('not-the-secret-of-this-storage');
    const otherKey = repositoryWith(credentials.secretAccessKey, 'another-key-id');
    try {
      expect(await answer(await fetch(await wrongSecret.presignGet('moments/a/original.wav')))).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
      expect(await answer(await fetch(await otherKey.presignGet('moments/a/original.wav')))).toMatchObject({ status: 403, code: 'InvalidAccessKeyId' });
    } finally {
      wrongSecret.destroy();
      otherKey.destroy();
    }
  });

  it('refuses the SDK when its secret is wrong, and nothing is written', async () => {
    const wrongSecret = repositoryWith('not-the-secret-of-this-storage');
    try {
      expect(await wrongSecret.isReachable()).toBe(false);
      await expect(wrongSecret.putBuffer('moments/c/original.wav', Buffer.from('intruder'), 'audio/wav')).rejects.toMatchObject({ name: 'SignatureDoesNotMatch' });
      await expect(wrongSecret.getBuffer('moments/a/original.wav')).rejects.toMatchObject({ name: 'SignatureDoesNotMatch' });
      await expect(wrongSecret.deletePrefix('moments/')).rejects.toMatchObject({ name: 'SignatureDoesNotMatch' });
    } finally {
      wrongSecret.destroy();
    }
    expect(await repository.listKeys('moments/c/')).toEqual([]);
    expect((await repository.getBuffer('moments/a/original.wav')).toString()).toBe('recording of moment a');
  });

  describe('a request signed in the Authorization header', () => {
    const signer = new SignatureV4({ credentials, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false });
    const port = () => storage.port;
    const sign = (key: string, signingDate = new Date(), headers: Record<string, string> = {}) =>
      signer.sign(
        {
          method: 'GET',
          protocol: 'http:',
          hostname: '127.0.0.1',
          path: `/${bucket}/${key}`,
          query: {},
          headers: { host: `127.0.0.1:${port()}`, 'x-amz-content-sha256': EMPTY_SHA256, ...headers },
        },
        { signingDate },
      );
    const send = async (key: string, headers: Record<string, string>) => answer(await fetch(objectUrl(key), { headers }));

    it('is served when it is what was signed', async () => {
      const signed = await sign('moments/a/original.wav');
      expect(await send('moments/a/original.wav', signed.headers)).toMatchObject({ status: 200, body: 'recording of moment a' });
    });

    it('is refused when sent for another key, or with an x-amz header that was not signed', async () => {
      const signed = await sign('moments/a/original.wav');
      expect(await send('moments/b/original.wav', signed.headers)).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
      expect(await send('moments/a/original.wav', { ...signed.headers, 'x-amz-copy-source': `/${bucket}/moments/b/original.wav` })).toMatchObject({
        status: 403,
        code: 'AccessDenied',
      });
    });

    it('is refused when its time is more than 15 minutes off', async () => {
      const signed = await sign('moments/a/original.wav', new Date(Date.now() - 20 * 60_000));
      expect(await send('moments/a/original.wav', signed.headers)).toMatchObject({ status: 403, code: 'RequestTimeTooSkewed' });
    });

    it('is refused for a chunked payload, which this storage would store as it comes', async () => {
      const signed = await sign('moments/a/original.wav', new Date(), { 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' });
      expect(await send('moments/a/original.wav', signed.headers)).toMatchObject({ status: 501, code: 'NotImplemented' });
    });

    it('is refused in Signature Version 2', async () => {
      expect(await send('moments/a/original.wav', { authorization: `AWS ${credentials.accessKeyId}:c2lnbmF0dXJl`, date: new Date().toUTCString() })).toMatchObject({
        status: 400,
        code: 'InvalidRequest',
      });
    });
  });

  it("serves the AWS SDK's own operations: bucket, put, multipart, list, get, delete", async () => {
    const sdk = repositoryWith(credentials.secretAccessKey);
    const work = await mkdtemp(path.join(tmpdir(), 'embedded-storage-sdk-'));
    try {
      await sdk.ensureBucket();
      expect(await sdk.isReachable()).toBe(true);

      const file = path.join(work, 'stem.wav');
      await writeFile(file, Buffer.from('a small stem'));
      await sdk.putFile('moments/d/stems/vocals.wav', file, 'audio/wav');

      // Larger than one 5 MB part: lib-storage uploads it in parts.
      const large = Buffer.alloc(9 * 1024 * 1024 + 17);
      for (let i = 0; i < large.length; i += 4096) large[i] = i % 251;
      await sdk.putStream('moments/d/master.wav', Readable.from([large.subarray(0, 5_000_000), large.subarray(5_000_000)]), 'audio/wav');
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'moments/d/blueprint.json', Body: '{"tempo_bpm":120}', ContentType: 'application/json' }));

      expect((await sdk.listKeys('moments/d/')).sort()).toEqual(['moments/d/blueprint.json', 'moments/d/master.wav', 'moments/d/stems/vocals.wav']);
      expect((await sdk.getBuffer('moments/d/master.wav')).equals(large)).toBe(true);
      const downloaded = path.join(work, 'vocals.wav');
      await sdk.downloadTo('moments/d/stems/vocals.wav', downloaded);
      expect((await readFile(downloaded)).toString()).toBe('a small stem');

      await sdk.deletePrefix('moments/d/');
      expect(await sdk.listKeys('moments/d/')).toEqual([]);
    } finally {
      sdk.destroy();
      await rm(work, { recursive: true, force: true });
    }
  });

  it('streams a file in one PUT of known length, however large, and it reads back whole', async () => {
    const work = await mkdtemp(path.join(tmpdir(), 'embedded-storage-file-'));
    const send = vi.spyOn(S3Client.prototype, 'send');
    try {
      const recording = Buffer.alloc(12 * 1024 * 1024 + 5);
      for (let i = 0; i < recording.length; i += 1024) recording[i] = i % 253;
      const file = path.join(work, 'upload');
      await writeFile(file, recording);
      send.mockClear();
      await repository.putFile('moments/e/original.wav', file, 'audio/wav');
      const commands = send.mock.calls.map(([command]) => command as { constructor: { name: string }; input: { Body?: unknown; ContentLength?: number } });
      expect(commands.map((command) => command.constructor.name)).toEqual(['PutObjectCommand']);
      expect(commands[0].input.ContentLength).toBe(recording.length);
      expect(commands[0].input.Body).toBeInstanceOf(ReadStream);
      send.mockRestore();
      expect((await repository.getBuffer('moments/e/original.wav')).equals(recording)).toBe(true);
    } finally {
      send.mockRestore();
      await repository.deletePrefix('moments/e/');
      await rm(work, { recursive: true, force: true });
    }
  });

  it('names keys with spaces and reserved characters as the SDK signs them', async () => {
    await repository.putBuffer('moments/e/a b+c=d&e.json', Buffer.from('odd name'), 'application/json');
    expect((await repository.getBuffer('moments/e/a b+c=d&e.json')).toString()).toBe('odd name');
    expect(await (await fetch(await repository.presignGet('moments/e/a b+c=d&e.json'))).text()).toBe('odd name');
    expect(await repository.listKeys('moments/e/')).toEqual(['moments/e/a b+c=d&e.json']);
  });
});

describe('embedded storage with no secret configured', () => {
  it('gets a secret of its own for each run, so the well-known s3rver pair opens nothing', async () => {
    const first = loadConfig({});
    const second = loadConfig({});
    expect(first.embeddedStorage).toBe(true);
    expect(first.S3_SECRET_ACCESS_KEY).toMatch(/^[0-9a-f]{64}$/);
    expect(second.S3_SECRET_ACCESS_KEY).not.toBe(first.S3_SECRET_ACCESS_KEY);
    expect(loadConfig({ S3_SECRET_ACCESS_KEY: 'configured-secret' }).S3_SECRET_ACCESS_KEY).toBe('configured-secret');

    const directory = await mkdtemp(path.join(tmpdir(), 'embedded-storage-default-'));
    const storage = await startEmbeddedStorage({ port: 0, directory, accessKeyId: first.S3_ACCESS_KEY_ID, secretAccessKey: first.S3_SECRET_ACCESS_KEY });
    const repository = (secretAccessKey: string) =>
      new StorageRepository({ endpoint: storage.endpoint, region: 'us-east-1', bucket, accessKeyId: first.S3_ACCESS_KEY_ID, secretAccessKey, forcePathStyle: true, presignTtlSeconds: 60 });
    const configured = repository(first.S3_SECRET_ACCESS_KEY);
    const wellKnown = repository('S3RVER');
    try {
      await configured.ensureBucket();
      expect(await configured.isReachable()).toBe(true);
      expect(await wellKnown.isReachable()).toBe(false);
    } finally {
      configured.destroy();
      wellKnown.destroy();
      await storage.close();
      await rm(directory, { recursive: true, force: true });
    }
  });
});
