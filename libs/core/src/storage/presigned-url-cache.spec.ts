import { afterAll, describe, expect, it } from 'vitest';
import { PresignedUrlCache } from './presigned-url-cache';
import { PRESIGN_REUSE_FRACTION, StorageRepository } from './storage.repository';

/** A signer that counts its calls and names each URL by its signing time. */
function countingSigner() {
  const signed: Date[] = [];
  return {
    signed,
    sign: (signingDate: Date) => {
      signed.push(signingDate);
      return Promise.resolve(`https://storage.test/k?signed=${signingDate.getTime()}`);
    },
  };
}

/** Epoch ms until which a URL of the counting signer (or a SigV4 URL) is valid. */
function expiresAt(url: string, ttlSeconds: number): number {
  const query = new URL(url).searchParams;
  const amzDate = query.get('X-Amz-Date');
  if (amzDate) {
    const iso = amzDate.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z');
    return Date.parse(iso) + Number(query.get('X-Amz-Expires')) * 1000;
  }
  return Number(query.get('signed')) + ttlSeconds * 1000;
}

describe('PresignedUrlCache', () => {
  it('signs a key once and hands out the same URL during the first part of its life', async () => {
    let now = 1_000_000;
    const cache = new PresignedUrlCache({ reuseFraction: 0.5, maxEntries: 100, now: () => now });
    const signer = countingSigner();
    const first = await cache.get('moments/a/preview.mp3', 900, signer.sign);
    now += 449_000;
    expect(await cache.get('moments/a/preview.mp3', 900, signer.sign)).toBe(first);
    expect(signer.signed).toHaveLength(1);
  });

  it('renews a URL once half its life is gone, before it could be served expired', async () => {
    let now = 1_000_000;
    const cache = new PresignedUrlCache({ reuseFraction: 0.5, maxEntries: 100, now: () => now });
    const signer = countingSigner();
    const first = await cache.get('k', 900, signer.sign);
    now += 450_000;
    const renewed = await cache.get('k', 900, signer.sign);
    expect(renewed).not.toBe(first);
    expect(signer.signed.map((date) => date.getTime())).toEqual([1_000_000, 1_450_000]);
  });

  it('never hands out a URL with less than the unused part of its life left, whenever it is asked', async () => {
    let now = 5_000_000;
    const ttlSeconds = 60;
    const cache = new PresignedUrlCache({ reuseFraction: 0.75, maxEntries: 100, now: () => now });
    const signer = countingSigner();
    for (let step = 0; step < 500; step++) {
      now += (step * 7919) % 4000; // uneven steps, up to 4 s
      const url = await cache.get('k', ttlSeconds, signer.sign);
      expect(expiresAt(url, ttlSeconds) - now).toBeGreaterThan(ttlSeconds * 1000 * 0.25);
    }
    expect(signer.signed.length).toBeGreaterThan(1);
    expect(signer.signed.length).toBeLessThan(500);
  });

  it('keeps URLs of different lifetimes apart', async () => {
    const cache = new PresignedUrlCache({ reuseFraction: 0.5, maxEntries: 100, now: () => 0 });
    const signer = countingSigner();
    await cache.get('k', 900, signer.sign);
    await cache.get('k', 60, signer.sign);
    expect(signer.signed).toHaveLength(2);
  });

  it('shares one signing between concurrent reads of a key', async () => {
    const cache = new PresignedUrlCache({ reuseFraction: 0.5, maxEntries: 100, now: () => 0 });
    const signer = countingSigner();
    const urls = await Promise.all(Array.from({ length: 5 }, () => cache.get('k', 900, signer.sign)));
    expect(new Set(urls).size).toBe(1);
    expect(signer.signed).toHaveLength(1);
  });

  it('does not remember a failed signing', async () => {
    const cache = new PresignedUrlCache({ reuseFraction: 0.5, maxEntries: 100, now: () => 0 });
    await expect(cache.get('k', 900, () => Promise.reject(new Error('no credentials')))).rejects.toThrow('no credentials');
    const signer = countingSigner();
    await cache.get('k', 900, signer.sign);
    expect(signer.signed).toHaveLength(1);
  });

  it('remembers at most maxEntries keys, forgetting the least recently signed', async () => {
    const cache = new PresignedUrlCache({ reuseFraction: 0.5, maxEntries: 3, now: () => 0 });
    const signer = countingSigner();
    for (const key of ['a', 'b', 'c', 'd']) await cache.get(key, 900, signer.sign);
    expect(cache.size).toBe(3);
    await cache.get('b', 900, signer.sign);
    expect(signer.signed).toHaveLength(4);
    await cache.get('a', 900, signer.sign);
    expect(signer.signed).toHaveLength(5);
  });
});

describe('StorageRepository.presignGet', () => {
  let now = Date.parse('2026-01-01T12:00:00Z');
  const storage = new StorageRepository({
    endpoint: 'http://127.0.0.1:4569',
    region: 'us-east-1',
    bucket: 'main-character',
    accessKeyId: 'AKIDEXAMPLE',
    secretAccessKey: 'secret',
    forcePathStyle: true,
    presignTtlSeconds: 900,
    now: () => now,
  });
  afterAll(() => storage.destroy());

  it('reuses a signed URL, then signs a new one that is valid from the time it was renewed', async () => {
    const first = await storage.presignGet('moments/m/preview.mp3');
    expect(expiresAt(first, 900)).toBe(now + 900_000);
    now += 60_000;
    expect(await storage.presignGet('moments/m/preview.mp3')).toBe(first);
    now += 900_000 * PRESIGN_REUSE_FRACTION;
    const renewed = await storage.presignGet('moments/m/preview.mp3');
    expect(renewed).not.toBe(first);
    expect(expiresAt(renewed, 900)).toBe(now + 900_000);
    expect(await storage.presignGet('moments/m/master.wav')).not.toBe(renewed);
  });
});
