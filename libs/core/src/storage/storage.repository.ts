import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { CreateBucketCommand, DeleteObjectsCommand, GetObjectCommand, HeadBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Logger } from '@nestjs/common';
import { PresignedUrlCache } from './presigned-url-cache';

export interface StoredObject {
  key: string;
  lastModified: Date;
}

export interface StorageOptions {
  endpoint: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
  presignTtlSeconds: number;
  /** The clock URLs are signed by; tests move it. */
  now?: () => number;
}

/** A presigned GET URL is reused for the first half of its life, so every URL handed out has at least half its life left. */
export const PRESIGN_REUSE_FRACTION = 0.5;
/** S3's limit for one PUT; larger files go as multipart uploads. */
const MAX_SINGLE_PUT_BYTES = 5 * 1024 ** 3;
const PUT_FILE_ATTEMPTS = 3;
/** Object keys whose URLs are remembered at once: a few MB at most. */
const PRESIGN_CACHE_ENTRIES = 10_000;

/**
 * Object storage behind one adapter. Objects are private: nothing is written with a public
 * ACL, and readers get presigned URLs that expire.
 */
/**
 * One line for a notice of the S3 client: its logger middleware reports a failed command as an object (the command,
 * its filtered input, the error), which is named here by command and error, without the input.
 */
export function describeClientNotice(message: unknown): string {
  if (typeof message === 'string') return message;
  const notice = message as { commandName?: unknown; error?: { name?: unknown; $metadata?: { httpStatusCode?: unknown } } } | null;
  if (notice && typeof notice.commandName === 'string') {
    const status = notice.error?.$metadata?.httpStatusCode;
    const name = typeof notice.error?.name === 'string' ? notice.error.name : 'error';
    return `${notice.commandName} failed: ${name}${typeof status === 'number' ? ` (HTTP ${status})` : ''}`;
  }
  return message instanceof Error ? `${message.name}: ${message.message}` : (JSON.stringify(message) ?? String(message));
}

export class StorageRepository {
  private readonly logger = new Logger(StorageRepository.name);
  private readonly client: S3Client;
  private readonly getUrls: PresignedUrlCache;

  constructor(private readonly options: StorageOptions) {
    this.getUrls = new PresignedUrlCache({ reuseFraction: PRESIGN_REUSE_FRACTION, maxEntries: PRESIGN_CACHE_ENTRIES, now: options.now });
    this.client = new S3Client({
      endpoint: options.endpoint,
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
      maxAttempts: 3,
      // A file streams in one PUT of known length; the default trailing checksum would make it aws-chunked, which not every S3-compatible service takes.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      // The client's own notices go through the app's JSON logger (without one it writes to the console). Each failed command is also
      // thrown to its caller, which decides what it means (a missing bucket before it is created, a streamed PUT that putFile retries): debug.
      logger: {
        debug: () => {},
        info: () => {},
        warn: (message: unknown) => this.logger.debug(describeClientNotice(message)),
        error: (message: unknown) => this.logger.debug(describeClientNotice(message)),
      },
    });
  }

  get bucket(): string {
    return this.options.bucket;
  }

  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.options.bucket }));
    } catch {
      await this.client.send(new CreateBucketCommand({ Bucket: this.options.bucket })).catch((error: { name?: string }) => {
        if (error.name !== 'BucketAlreadyOwnedByYou' && error.name !== 'BucketAlreadyExists') throw error;
      });
    }
  }

  async isReachable(): Promise<boolean> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.options.bucket }));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Streams a local file to `key` in one PUT of known length: only the file stream's 64 kB buffer is
   * held, whatever the file's size (a multipart upload would hold whole parts). A streamed body
   * cannot be replayed by the SDK's retries, so a failed attempt reopens the file.
   */
  async putFile(key: string, file: string, contentType: string): Promise<void> {
    const { size } = await stat(file);
    if (size > MAX_SINGLE_PUT_BYTES) return this.putStream(key, createReadStream(file), contentType);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.send(new PutObjectCommand({ Bucket: this.options.bucket, Key: key, Body: createReadStream(file), ContentLength: size, ContentType: contentType }));
        return;
      } catch (error) {
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (attempt >= PUT_FILE_ATTEMPTS || (status !== undefined && status < 500)) throw error;
      }
    }
  }

  /** Streams a body of unknown length to `key` as a multipart upload: at most one part (5 MB, the least S3 takes) is held at a time. */
  async putStream(key: string, body: Readable, contentType: string): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.options.bucket, Key: key, Body: body, ContentType: contentType },
      queueSize: 1,
      partSize: 5 * 1024 * 1024,
    });
    await upload.done();
  }

  async putBuffer(key: string, body: Buffer | string, contentType: string): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.options.bucket, Key: key, Body: body, ContentType: contentType }));
  }

  async downloadTo(key: string, file: string): Promise<void> {
    const response = await this.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: key }));
    await pipeline(response.Body as Readable, createWriteStream(file));
  }

  async getBuffer(key: string): Promise<Buffer> {
    const response = await this.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: key }));
    return Buffer.from(await response.Body!.transformToByteArray());
  }

  /**
   * A presigned GET URL of `key`, valid for `ttlSeconds` from when it was signed. Signed once and
   * reused for the first half of its life (PRESIGN_REUSE_FRACTION): reads cost no signing, and
   * the URL handed out is valid for at least half of `ttlSeconds`.
   */
  presignGet(key: string, ttlSeconds = this.options.presignTtlSeconds): Promise<string> {
    return this.getUrls.get(key, ttlSeconds, (signingDate) => getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.options.bucket, Key: key }), { expiresIn: ttlSeconds, signingDate }));
  }

  presignPut(key: string, contentType: string, ttlSeconds = this.options.presignTtlSeconds): Promise<string> {
    return getSignedUrl(this.client, new PutObjectCommand({ Bucket: this.options.bucket, Key: key, ContentType: contentType }), {
      expiresIn: ttlSeconds,
    });
  }

  async listKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: prefix, ContinuationToken: token }));
      keys.push(...(page.Contents ?? []).map((item) => item.Key!).filter(Boolean));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  /** Every object under `prefix` with its last-modified time, one listing page (up to 1000) at a time. */
  async *listObjects(prefix: string): AsyncGenerator<StoredObject[]> {
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: prefix, ContinuationToken: token }));
      yield (page.Contents ?? []).filter((item) => item.Key).map((item) => ({ key: item.Key!, lastModified: item.LastModified ?? new Date(0) }));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async deleteKeys(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const { Errors } = await this.client.send(new DeleteObjectsCommand({ Bucket: this.options.bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }));
      if (Errors?.length) throw new Error(`storage refused to delete ${Errors.length} object(s): ${Errors[0].Code ?? 'unknown error'}`);
    }
  }

  async deletePrefix(prefix: string): Promise<void> {
    await this.deleteKeys(await this.listKeys(prefix));
  }

  destroy(): void {
    this.client.destroy();
  }
}
