import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ffmpegLauncher } from '@mcm/audio/io/ffmpeg-launcher';
import { startEmbeddedStorage } from '@mcm/core/storage/embedded-storage';
import type { StorageLocation } from '@mcm/core/storage/presigned-url';

/** 4 bars of 4/4 at 120 bpm: 8 seconds. */
export const VALID_BLUEPRINT = {
  id: 'bp-music-tools-spec',
  style: 'anthem',
  tempo_bpm: 120,
  key: 'Am',
  sections: [
    { name: 'intro', bars: 2, energy: 0.4 },
    { name: 'hook', bars: 2, energy: 0.9 },
  ],
  lyrics: 'This is my moment',
  voice: { voice_id: 'local' },
};

/** A mono 16-bit WAV of a few sung-like tones, standing in for a rendered vocal stem. */
export function toneWav(seconds: number, sampleRate = 44_100): Buffer {
  const frames = Math.round(seconds * sampleRate);
  const data = Buffer.alloc(frames * 2);
  const notes = [220, 261.63, 329.63, 293.66];
  for (let i = 0; i < frames; i++) {
    const t = i / sampleRate;
    const frequency = notes[Math.floor(t / 2) % notes.length];
    const envelope = Math.min(1, (t % 2) * 8) * 0.5;
    data.writeInt16LE(Math.round(Math.sin(2 * Math.PI * frequency * t) * envelope * 32767), i * 2);
  }
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8);
  header.write('fmt ', 12);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

/** True for an MP3 file: an ID3v2 tag or an MPEG audio frame sync at the start. */
export function looksLikeMp3(bytes: Buffer): boolean {
  if (bytes.subarray(0, 3).toString('latin1') === 'ID3') return true;
  return bytes[0] === 0xff && (bytes[1] & 0xe0) === 0xe0;
}

export interface TestStorage {
  s3: S3Client;
  endpoint: string;
  bucket: string;
  /** The allow-list music-tools is configured with for this storage. */
  location: StorageLocation;
  /** `METHOD /path` of every request storage received, query strings left out. */
  requests: string[];
  presignGet(key: string): Promise<string>;
  presignPut(key: string): Promise<string>;
  put(key: string, body: Buffer, contentType: string): Promise<void>;
  get(key: string): Promise<{ body: Buffer; contentType?: string }>;
  close(): Promise<void>;
}

/** The embedded storage of the stack, which checks signatures as S3 does, with one bucket as the worker would use. */
export async function startTestStorage(): Promise<TestStorage> {
  const directory = await mkdtemp(path.join(tmpdir(), 'music-tools-s3-'));
  const credentials = { accessKeyId: 'music-tools-spec', secretAccessKey: 'music-tools-spec-secret' };
  const storage = await startEmbeddedStorage({ port: 0, directory, ...credentials });
  const { endpoint } = storage;
  const requests: string[] = [];
  const record = (request: IncomingMessage) => requests.push(`${request.method} ${request.url?.split('?')[0]}`);
  storage.server.on('request', record).on('checkContinue', record);
  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
  const bucket = 'music-tools-spec';
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    s3,
    endpoint,
    bucket,
    location: { endpoint, bucket, forcePathStyle: true },
    requests,
    presignGet: (key) => getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: 300 }),
    presignPut: (key) => getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: 300 }),
    put: async (key, body, contentType) => {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
    },
    get: async (key) => {
      const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return { body: Buffer.from(await object.Body!.transformToByteArray()), contentType: object.ContentType };
    },
    close: async () => {
      s3.destroy();
      await storage.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

export interface TargetServer {
  origin: string;
  port: number;
  /** `METHOD /path` of every request received, query strings left out. */
  requests: string[];
  close(): Promise<void>;
}

/** A local HTTP server standing in for another host: it answers 404, redirects every request, or never answers. */
export async function startTargetServer(answer: 'not-found' | 'hang' | { redirectTo: string; status?: number }): Promise<TargetServer> {
  const requests: string[] = [];
  const server = createServer((request, response) => {
    requests.push(`${request.method} ${request.url?.split('?')[0]}`);
    request.resume();
    if (answer === 'hang') return;
    if (answer === 'not-found') return void response.writeHead(404, { 'content-type': 'text/plain' }).end('no such thing');
    response.writeHead(answer.status ?? 302, { location: answer.redirectTo }).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The query of a real presigned URL, to dress another URL up as presigned. */
export function presignedQuery(url: string): string {
  return new URL(url).search;
}

/** 150 bars of 4/4 at 120 bpm: 300 seconds, the longest render allowed by default. */
export const LONGEST_BLUEPRINT = {
  ...VALID_BLUEPRINT,
  id: 'bp-longest',
  sections: [
    { name: 'verse', bars: 75, energy: 0.5 },
    { name: 'chorus', bars: 75, energy: 0.9 },
  ],
};

/**
 * The ffmpeg runs this process started that are still alive (not yet exited): its ffmpeg children, and those of
 * its ffmpeg fork server, the server itself aside.
 */
export async function liveFfmpegChildren(): Promise<number[]> {
  const server = (await ffmpegLauncher())?.pid;
  const parents = new Set([process.pid, ...(server === undefined ? [] : [server])]);
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === server) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid …: the command name may hold spaces, so split after its closing parenthesis.
    const match = /^\d+ \((.*)\) (\S) (\d+) /.exec(stat);
    if (match && match[1] === 'ffmpeg' && match[2] !== 'Z' && parents.has(Number(match[3]))) pids.push(Number(entry));
  }
  return pids;
}

/** An MCP client of music-tools over Streamable HTTP, sending `headers` (a bearer token) on every request. */
export async function connectMcp(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'music-tools-spec', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}
