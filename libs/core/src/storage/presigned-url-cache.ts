/** A presigned URL and when it stops being handed out. */
interface CachedUrl {
  url: Promise<string>;
  /** Epoch ms after which the URL is signed again; its expiry lies `ttl × (1 − reuseFraction)` later. */
  renewAt: number;
}

export interface PresignedUrlCacheOptions {
  /** The share of a URL's life during which it is reused: 0.5 means every URL handed out still has at least half its life left. */
  reuseFraction: number;
  /** Keys remembered at most; the least recently signed go first. */
  maxEntries: number;
  now?: () => number;
}

/**
 * Presigned URLs by object key, signed once and reused for the first part of their life, so a
 * status poll costs no signing and answers the same URL (and the same ETag) until it is renewed.
 * A URL is renewed before it is handed out past its reuse point: none is ever served expired.
 */
export class PresignedUrlCache {
  private readonly entries = new Map<string, CachedUrl>();
  private readonly now: () => number;

  constructor(private readonly options: PresignedUrlCacheOptions) {
    if (!(options.reuseFraction >= 0 && options.reuseFraction < 1)) throw new RangeError('reuseFraction must be at least 0 and below 1');
    this.now = options.now ?? Date.now;
  }

  /** The URL of `key` valid for `ttlSeconds` from signing; `sign` is called only when there is none to reuse. */
  get(key: string, ttlSeconds: number, sign: (signingDate: Date) => Promise<string>): Promise<string> {
    const now = this.now();
    const cacheKey = `${ttlSeconds}:${key}`;
    const cached = this.entries.get(cacheKey);
    if (cached && now < cached.renewAt) return cached.url;
    const url = sign(new Date(now));
    const entry: CachedUrl = { url, renewAt: now + ttlSeconds * 1000 * this.options.reuseFraction };
    this.entries.delete(cacheKey);
    this.entries.set(cacheKey, entry);
    if (this.entries.size > this.options.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    // A failed signing is not remembered: the next read tries again.
    void url.catch(() => {
      if (this.entries.get(cacheKey) === entry) this.entries.delete(cacheKey);
    });
    return url;
  }

  get size(): number {
    return this.entries.size;
  }
}
