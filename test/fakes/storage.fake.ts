import { readFile, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { StorageRepository, StoredObject } from '@mcm/core';
import type { Port } from './port';

/** A bucket in memory; `unreachable` makes every call fail as an outage would. */
export class FakeStorage implements Port<StorageRepository> {
  readonly objects = new Map<string, { body: Buffer; contentType: string; lastModified: Date }>();
  unreachable = false;
  readonly bucket = 'moments-fake';

  private check(): void {
    if (this.unreachable) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9000'), { name: 'S3ServiceException' });
  }

  async ensureBucket(): Promise<void> {
    this.check();
  }

  async isReachable(): Promise<boolean> {
    return !this.unreachable;
  }

  async putFile(key: string, file: string, contentType: string): Promise<void> {
    await this.putBuffer(key, await readFile(file), contentType);
  }

  async putStream(key: string, body: Readable, contentType: string): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.from(chunk as Buffer));
    await this.putBuffer(key, Buffer.concat(chunks), contentType);
  }

  async putBuffer(key: string, body: Buffer | string, contentType: string): Promise<void> {
    this.check();
    this.objects.set(key, { body: Buffer.from(body), contentType, lastModified: new Date() });
  }

  async downloadTo(key: string, file: string): Promise<void> {
    await writeFile(file, await this.getBuffer(key));
  }

  async getBuffer(key: string): Promise<Buffer> {
    this.check();
    const object = this.objects.get(key);
    if (!object) throw Object.assign(new Error(`no object ${key}`), { name: 'NoSuchKey' });
    return object.body;
  }

  async presignGet(key: string): Promise<string> {
    return `https://storage.test/${this.bucket}/${key}?signed=get`;
  }

  async presignPut(key: string): Promise<string> {
    return `https://storage.test/${this.bucket}/${key}?signed=put`;
  }

  async listKeys(prefix: string): Promise<string[]> {
    this.check();
    return [...this.objects.keys()].filter((key) => key.startsWith(prefix)).sort();
  }

  async *listObjects(prefix: string): AsyncGenerator<StoredObject[]> {
    const keys = await this.listKeys(prefix);
    yield keys.map((key) => ({ key, lastModified: this.objects.get(key)!.lastModified }));
  }

  async deleteKeys(keys: string[]): Promise<void> {
    this.check();
    for (const key of keys) this.objects.delete(key);
  }

  async deletePrefix(prefix: string): Promise<void> {
    await this.deleteKeys(await this.listKeys(prefix));
  }

  destroy(): void {}
}
