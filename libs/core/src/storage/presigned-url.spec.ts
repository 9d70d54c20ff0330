import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { afterAll, describe, expect, it } from 'vitest';
import { presignedObjectKey, usesPathStyle, type StorageLocation } from './presigned-url';

const clients: S3Client[] = [];

/** Presigns as StorageRepository does, with the SDK's own addressing rules; nothing is sent. */
async function presign(storage: StorageLocation, key: string, method: 'GET' | 'PUT' = 'GET'): Promise<string> {
  const client = new S3Client({
    endpoint: storage.endpoint,
    region: 'us-east-1',
    forcePathStyle: storage.forcePathStyle,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
  });
  clients.push(client);
  const command = method === 'GET' ? new GetObjectCommand({ Bucket: storage.bucket, Key: key }) : new PutObjectCommand({ Bucket: storage.bucket, Key: key, ContentType: 'audio/mpeg' });
  return getSignedUrl(client, command, { expiresIn: 60 });
}

afterAll(() => {
  for (const client of clients) client.destroy();
});

describe('presignedObjectKey', () => {
  it.each<[string, StorageLocation]>([
    ['the embedded storage (path-style)', { endpoint: 'http://127.0.0.1:4569', bucket: 'main-character', forcePathStyle: true }],
    ['an S3-compatible service at a path (path-style)', { endpoint: 'https://storage.example.com/s3', bucket: 'mcm', forcePathStyle: true }],
    ['AWS (virtual-hosted)', { endpoint: 'https://s3.eu-west-1.amazonaws.com', bucket: 'mcm-moments', forcePathStyle: false }],
    ['AWS with a dotted bucket (the SDK falls back to path-style)', { endpoint: 'https://s3.eu-west-1.amazonaws.com', bucket: 'mcm.moments', forcePathStyle: false }],
    ['DigitalOcean Spaces (virtual-hosted)', { endpoint: 'https://nyc3.digitaloceanspaces.com', bucket: 'mcm', forcePathStyle: false }],
  ])('reads the key of URLs the SDK presigns for %s', async (_name, storage) => {
    for (const method of ['GET', 'PUT'] as const) {
      expect(presignedObjectKey(await presign(storage, 'moments/0b7c/stems/vocals take 1+.wav', method), storage)).toBe('moments/0b7c/stems/vocals take 1+.wav');
    }
  });

  it('refuses the other addressing style when path-style is forced, and another bucket or endpoint in either', async () => {
    const pathStyle: StorageLocation = { endpoint: 'https://s3.eu-west-1.amazonaws.com', bucket: 'mcm-moments', forcePathStyle: true };
    const virtual = { ...pathStyle, forcePathStyle: false };
    expect(presignedObjectKey(await presign(virtual, 'moments/a/original.wav'), pathStyle)).toBeNull();
    expect(presignedObjectKey(await presign(pathStyle, 'moments/a/original.wav'), virtual)).toBe('moments/a/original.wav');
    expect(presignedObjectKey(await presign({ ...virtual, bucket: 'someone-else' }, 'moments/a/original.wav'), virtual)).toBeNull();
    expect(presignedObjectKey(await presign({ ...pathStyle, bucket: 'someone-else' }, 'moments/a/original.wav'), pathStyle)).toBeNull();
    expect(presignedObjectKey(await presign({ ...virtual, endpoint: 'https://s3.us-east-1.amazonaws.com' }, 'moments/a/original.wav'), virtual)).toBeNull();
    expect(presignedObjectKey(await presign({ ...virtual, endpoint: 'http://s3.eu-west-1.amazonaws.com' }, 'moments/a/original.wav'), virtual)).toBeNull();
    expect(presignedObjectKey(await presign({ ...virtual, endpoint: 'https://s3.eu-west-1.amazonaws.com:8443' }, 'moments/a/original.wav'), virtual)).toBeNull();
  });

  it('refuses URLs that are not presigned, or whose key walks out of its folder', async () => {
    const storage: StorageLocation = { endpoint: 'http://127.0.0.1:4569', bucket: 'main-character', forcePathStyle: true };
    const signed = await presign(storage, 'moments/a/original.wav');
    const query = new URL(signed).search;
    for (const url of [
      'http://127.0.0.1:4569/main-character/moments/a/original.wav',
      signed.replace(/&X-Amz-Date=[^&]+/, ''),
      signed.replace('AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA1'),
      `http://127.0.0.1:4569/main-character/moments/a/x%00.wav${query}`,
      `http://127.0.0.1:4569/main-character/moments/a/x%7F.wav${query}`,
      `http://127.0.0.1:4569/main-character/moments/a/x%C2%85.wav${query}`,
      `http://127.0.0.1:4569/main-character/moments/a%5Cx.wav${query}`,
      `http://127.0.0.1:4569/main-character/moments//a.wav${query}`,
      `http://127.0.0.1:4569/main-character/moments/a/..%2F..%2Fsecret${query}`,
      `http://127.0.0.1:4569/main-character/moments/a/%E0%A4%A${query}`,
      `http://127.0.0.1:4569/main-character/${query}`,
      'not a url',
    ]) {
      expect(presignedObjectKey(url, storage), url).toBeNull();
    }
  });
});

describe('usesPathStyle', () => {
  it('follows S3_FORCE_PATH_STYLE, else is path-style everywhere but AWS', () => {
    expect(usesPathStyle({ S3_FORCE_PATH_STYLE: 'false', S3_ENDPOINT: 'http://127.0.0.1:9000', embeddedStorage: false })).toBe(false);
    expect(usesPathStyle({ S3_FORCE_PATH_STYLE: 'true', S3_ENDPOINT: 'https://s3.amazonaws.com', embeddedStorage: false })).toBe(true);
    expect(usesPathStyle({ S3_FORCE_PATH_STYLE: undefined, S3_ENDPOINT: 'https://s3.eu-west-1.amazonaws.com', embeddedStorage: false })).toBe(false);
    expect(usesPathStyle({ S3_FORCE_PATH_STYLE: undefined, S3_ENDPOINT: 'https://nyc3.digitaloceanspaces.com', embeddedStorage: false })).toBe(true);
    expect(usesPathStyle({ S3_FORCE_PATH_STYLE: undefined, S3_ENDPOINT: 'http://127.0.0.1:4569', embeddedStorage: true })).toBe(true);
  });
});
