import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffmpegInput, runFfmpeg } from '@mcm/audio';
import { StorageRepository } from '@mcm/core';
import { TEN_HOUR_BLUEPRINT } from '../support/blueprints';
import { startApi, startApiWorld, type ApiWorld } from '../support/in-process-api';
import type { TestEnv } from '../support/test-env';

/**
 * The bad-input corpus: hostile, broken and oversized requests against the real api, Postgres
 * and storage. Every one is refused with a 4xx problem and a stable code, and leaves no row, no
 * object and no temporary file behind. Two hostile file names are accepted on purpose: the name
 * is metadata only, kept sanitised, and the stored key never comes from it.
 */

const ADMIN_TOKEN = 'bad-input-admin-token';
const MAX_UPLOAD_MB = 2;
const MAX_AUDIO_SECONDS = 60;
const M4A = readFileSync(join(__dirname, '../fixtures/hum-phone.m4a'));
const CLEAN_WAV = readFileSync(join(__dirname, '../fixtures/voice-clean.wav'));
/** "Hello there", spoken by espeak-ng and encoded as a browser would (Ogg/Opus): about a second. */
const TWO_WORDS = readFileSync(join(__dirname, '../fixtures/two-words.ogg'));
const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000' + '1f15c4890000000d49444154789c6300010000050001' + '0d0a2db40000000049454e44ae426082', 'hex');
const JPEG = Buffer.concat([Buffer.from('ffd8ffe000104a46494600010100000100010000', 'hex'), Buffer.alloc(600, 0x11), Buffer.from('ffd9', 'hex')]);
const BLUEPRINT = { id: 'bp-bad', style: 'cinematic', tempo_bpm: 96, key: 'Am', sections: [{ name: 'intro', bars: 2 }], lyrics: 'Here I come', voice: { voice_id: 'local' } };
const BOUNDARY = 'corpusboundary7d1c';
const MULTIPART = `multipart/form-data; boundary=${BOUNDARY}`;

/** 8-bit mono PCM WAV: a 440 Hz tone of `seconds`, or only the header when 0. */
function wav(seconds: number, rate = 8000): Buffer {
  const samples = Math.round(seconds * rate);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + samples, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate, 28);
  header.writeUInt16LE(1, 32);
  header.writeUInt16LE(8, 34);
  header.write('data', 36);
  header.writeUInt32LE(samples, 40);
  const data = Buffer.alloc(samples);
  for (let i = 0; i < samples; i += 1) data[i] = 128 + Math.round(90 * Math.sin((2 * Math.PI * 440 * i) / rate));
  return Buffer.concat([header, data]);
}

/** 16-bit mono PCM WAV of white noise whose RMS is `dbfs`: a recording of nothing but a phone's noise floor. */
function noiseWav(seconds: number, dbfs: number, rate = 16000): Buffer {
  const samples = Math.round(seconds * rate);
  const amplitude = 10 ** (dbfs / 20) * Math.sqrt(3) * 32767;
  const data = Buffer.alloc(samples * 2);
  let seed = 12345;
  for (let i = 0; i < samples; i += 1) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    data.writeInt16LE(Math.round((seed / 1073741824 - 1) * amplitude), i * 2);
  }
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

/** An ID3v2 tag, as MP3 files start: a content sniff then looks past it, and so does ffmpeg's own probing. */
function id3(): Buffer {
  const frame = Buffer.concat([Buffer.from('TIT2'), Buffer.from([0, 0, 0, 6, 0, 0, 0]), Buffer.from('hum\0\0')]);
  return Buffer.concat([Buffer.from('ID3'), Buffer.from([3, 0, 0, 0, 0, 0, frame.length]), frame]);
}

type Part = { name: string; value: string | Buffer; type?: string } | { name: string; filename: string | Buffer; data: Buffer };

/** A multipart body built byte by byte, so names and values can be anything (invalid UTF-8 included). */
function multipart(parts: Part[], { close = true }: { close?: boolean } = {}): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    chunks.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${part.name}"`));
    if ('filename' in part) {
      chunks.push(Buffer.from('; filename="'), Buffer.from(part.filename), Buffer.from('"\r\nContent-Type: application/octet-stream\r\n\r\n'), part.data);
    } else {
      chunks.push(Buffer.from(part.type ? `\r\nContent-Type: ${part.type}\r\n\r\n` : '\r\n\r\n'), Buffer.from(part.value));
    }
    chunks.push(Buffer.from('\r\n'));
  }
  if (close) chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(chunks);
}

const audio = (data: Buffer = M4A, filename: string | Buffer = 'hum.m4a'): Part => ({ name: 'file', filename, data });
const withAudio = (fields: Record<string, string>): Part[] => [audio(), ...Object.entries(fields).map(([name, value]) => ({ name, value }))];

interface Answer {
  status: number;
  contentType: string;
  body: Record<string, unknown>;
}

/** Parses a raw HTTP/1.1 response (Content-Length framed, as every problem is). */
function parseRaw(raw: Buffer): Answer {
  const text = raw.toString('utf8');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no HTTP response: ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...headerLines] = text.slice(0, end).split('\r\n');
  const headers = Object.fromEntries(headerLines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  const length = Number(headers['content-length']);
  const body = raw.subarray(Buffer.byteLength(text.slice(0, end + 4))).subarray(0, Number.isFinite(length) ? length : undefined);
  return { status: Number(statusLine.split(' ')[1]), contentType: headers['content-type'] ?? '', body: JSON.parse(body.toString('utf8')) };
}

describe('bad input corpus', () => {
  let world: ApiWorld;
  let testEnv: TestEnv;
  let app: INestApplication;
  let base: string;
  let port: number;
  let db: Client;
  let storage: StorageRepository;
  let uploadTmp: string;
  let madeDir: string;
  /** Recordings made with ffmpeg for the corpus: broken, overlong, or as browsers record them. */
  const made: Record<'fastStartCut' | 'corruptMp3' | 'sixHourFlac' | 'recorderWebm' | 'recorderMp4' | 'mp3', Buffer> = {} as never;

  /** Encodes a fixture (or a lavfi source) with ffmpeg and returns the bytes. */
  const encode = async (name: string, input: string[], output: string[]): Promise<Buffer> => {
    const file = join(madeDir, name);
    await runFfmpeg([...input, ...output, '-y', file]);
    return readFileSync(file);
  };

  beforeAll(async () => {
    madeDir = mkdtempSync(join(tmpdir(), 'mcm-bad-input-made-'));
    const hum = ffmpegInput(join(__dirname, '../fixtures/hum-phone.m4a'), 'mov');
    const clean = ffmpegInput(join(__dirname, '../fixtures/voice-clean.wav'), 'wav');
    const fastStart = await encode('faststart.m4a', hum, ['-c', 'copy', '-movflags', '+faststart']);
    made.fastStartCut = fastStart.subarray(0, Math.floor(fastStart.length / 3));
    made.mp3 = await encode('take.mp3', clean, ['-c:a', 'libmp3lame', '-b:a', '128k']);
    made.corruptMp3 = Buffer.from(made.mp3);
    let seed = 7;
    for (let i = Math.floor(made.mp3.length / 2); i < Math.floor(made.mp3.length / 2) + 4000; i += 1) made.corruptMp3[i] = seed = (seed * 1103515245 + 12345) & 0xff;
    made.sixHourFlac = await encode('six-hours.flac', ffmpegInput('anullsrc=r=8000:cl=mono', 'lavfi'), ['-t', '21600', '-c:a', 'flac', '-frame_size', '65535']);
    // As MediaRecorder writes them: streamed WebM/Opus without cues or duration, and Safari's fragmented MP4.
    made.recorderWebm = await encode('recorder.webm', clean, ['-c:a', 'libopus', '-b:a', '32k', '-f', 'webm', '-live', '1']);
    made.recorderMp4 = await encode('recorder.mp4', clean, ['-c:a', 'aac', '-b:a', '64k', '-movflags', 'frag_keyframe+empty_moov+default_base_moof']);

    world = await startApiWorld({ ADMIN_TOKEN, MAX_UPLOAD_MB: String(MAX_UPLOAD_MB), MAX_AUDIO_SECONDS: String(MAX_AUDIO_SECONDS) });
    ({ testEnv, app, port, base, db } = world);
    // Uploads are spooled under os.tmpdir(): point it at a directory this file alone watches.
    uploadTmp = mkdtempSync(join(tmpdir(), 'mcm-bad-input-'));
    process.env.TMPDIR = uploadTmp;
    storage = app.get(StorageRepository);
  });

  afterAll(async () => {
    await world?.close();
    rmSync(uploadTmp, { recursive: true, force: true });
    rmSync(madeDir, { recursive: true, force: true });
  });

  const rowCount = async () => Number((await db.query('SELECT count(*) FROM moments')).rows[0].count);
  const objectKeys = () => storage.listKeys('moments/');
  const spooled = () => readdirSync(uploadTmp);

  const answer = async (response: Response): Promise<Answer> => {
    const text = await response.text();
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`status ${response.status}, not JSON: ${text.slice(0, 200)}`);
    }
    return { status: response.status, contentType: response.headers.get('content-type') ?? '', body };
  };
  const upload = (parts: Part[] | Buffer, { path = '/v1/moments', headers = {} }: { path?: string; headers?: Record<string, string> } = {}) =>
    fetch(`${base}${path}`, { method: 'POST', body: new Uint8Array(Buffer.isBuffer(parts) ? parts : multipart(parts)), headers: { 'content-type': MULTIPART, ...headers } }).then(answer);
  const send = (path: string, init: RequestInit = {}) => fetch(`${base}${path}`, init).then(answer);
  const admin = (path: string, init: RequestInit = {}) =>
    send(`/v1/admin${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...init.headers } });

  /** Writes `head` and `body` on a raw socket and reads the answer until the server closes. */
  const raw = (head: string, body: Buffer): Promise<Answer> =>
    new Promise<Buffer>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (chunk) => chunks.push(chunk));
      socket.on('error', () => undefined); // the server may cut the unread body: the answer is already here
      socket.on('close', () => resolve(Buffer.concat(chunks)));
      socket.write(head.replace(/\n/g, '\r\n') + '\r\n\r\n');
      socket.write(body);
    }).then(parseRaw);

  const rawHead = (headers: string) => `POST /v1/moments HTTP/1.1\nHost: 127.0.0.1\nConnection: close\n${headers}`;
  const nested = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);

  const cases: Array<{ name: string; send: () => Promise<Answer>; status: number; code: string; detail?: RegExp }> = [
    // Files: missing, empty, not audio, broken audio, too long.
    { name: 'no file part, only fields', send: () => upload([{ name: 'style', value: 'lofi' }]), status: 400, code: 'FILE_REQUIRED' },
    { name: 'a 0-byte file', send: () => upload([audio(Buffer.alloc(0), 'empty.wav')]), status: 400, code: 'FILE_EMPTY' },
    { name: 'an empty form (closing boundary only)', send: () => upload(Buffer.from(`--${BOUNDARY}--\r\n`)), status: 400, code: 'FILE_REQUIRED' },
    { name: 'an empty body', send: () => upload(Buffer.alloc(0)), status: 400, code: 'INVALID_MULTIPART' },
    { name: 'the file as a text field', send: () => upload([{ name: 'file', value: 'not a file' }]), status: 400, code: 'FILE_REQUIRED' },
    { name: 'a WAV header without samples', send: () => upload([audio(wav(0), 'empty.wav')]), status: 422, code: 'AUDIO_EMPTY' },
    { name: 'truncated AAC (a third of the m4a)', send: () => upload([audio(M4A.subarray(0, Math.floor(M4A.length / 3)))]), status: 422, code: 'AUDIO_UNDECODABLE' },
    { name: 'truncated AAC (the first 2 kB of the m4a)', send: () => upload([audio(M4A.subarray(0, 2048))]), status: 422, code: 'AUDIO_UNDECODABLE' },
    { name: 'text renamed .wav', send: () => upload([audio(Buffer.from('hello, this is not audio at all\n'.repeat(20)), 'a.wav')]), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    { name: 'a PNG named .m4a', send: () => upload([audio(PNG, 'a.m4a')]), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    { name: 'a JPEG named .mp3', send: () => upload([audio(JPEG, 'a.mp3')]), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    { name: 'random bytes', send: () => upload([audio(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)), 'a.ogg')]), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    { name: `audio longer than MAX_AUDIO_SECONDS (${MAX_AUDIO_SECONDS + 10} s WAV)`, send: () => upload([audio(wav(MAX_AUDIO_SECONDS + 10), 'long.wav')]), status: 422, code: 'AUDIO_TOO_LONG' },
    {
      name: 'a 6-hour silent FLAC of a few kB (decoded only a second past MAX_AUDIO_SECONDS)',
      send: () => upload([audio(made.sixHourFlac, 'long.flac')]),
      status: 422,
      code: 'AUDIO_TOO_LONG',
      detail: new RegExp(`decoding stopped at ${MAX_AUDIO_SECONDS + 1}\\.0 s`),
    },
    // Too short or too quiet to make a song from, and audio that breaks off.
    { name: '0.2 s of tone', send: () => upload([audio(wav(0.2), 'beep.wav')]), status: 422, code: 'AUDIO_TOO_SHORT' },
    { name: "3 s of a phone's noise floor (white noise at −56 dBFS)", send: () => upload([audio(noiseWav(3, -56), 'room.wav')]), status: 422, code: 'AUDIO_TOO_SHORT' },
    { name: 'an m4a with its index first, cut a third of the way through its samples', send: () => upload([audio(made.fastStartCut, 'cut.m4a')]), status: 422, code: 'AUDIO_TRUNCATED' },
    { name: 'an mp3 whose middle is overwritten with noise', send: () => upload([audio(made.corruptMp3, 'corrupt.mp3')]), status: 422, code: 'AUDIO_TRUNCATED' },
    {
      name: 'a WAV cut mid-sample, its header still declaring the whole take',
      send: () => upload([audio(CLEAN_WAV.subarray(0, 44 + 2 * 48000 * 3 + 1), 'cut.wav')]),
      status: 422,
      code: 'AUDIO_TRUNCATED',
    },
    // Files that make ffmpeg read other files: refused by the content sniff, and never decoded as anything but the sniffed container.
    {
      name: 'an HLS playlist naming a local file',
      send: () => upload([audio(Buffer.from('#EXTM3U\n#EXT-X-TARGETDURATION:20\n#EXTINF:20,\n/etc/passwd\n#EXT-X-ENDLIST\n'), 'a.m3u8')]),
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    },
    {
      name: 'an HLS playlist behind an MP3 tag',
      send: () => upload([audio(Buffer.concat([id3(), Buffer.from(`#EXTM3U\n#EXT-X-TARGETDURATION:20\n#EXTINF:20,\n${join(__dirname, '../fixtures/voice-clean.wav')}\n#EXT-X-ENDLIST\n`)]), 'a.mp3')]),
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    },
    {
      name: 'an ffconcat script behind an MP3 tag',
      send: () => upload([audio(Buffer.concat([id3(), Buffer.from('ffconcat version 1.0\nfile upload\n')]), 'a.mp3')]),
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    },
    // Size.
    {
      name: 'a file over MAX_UPLOAD_MB (streamed, honest Content-Length)',
      send: () => upload([audio(Buffer.alloc(MAX_UPLOAD_MB * 1024 * 1024 + 4096, 1), 'a.wav')]),
      status: 413,
      code: 'UPLOAD_TOO_LARGE',
    },
    {
      name: 'a declared 10 GB Content-Length with a small body (lying header)',
      send: () => raw(rawHead(`Content-Type: ${MULTIPART}\nContent-Length: 10737418240`), multipart([audio()], { close: false })),
      status: 413,
      code: 'UPLOAD_TOO_LARGE',
    },
    {
      name: 'a declared 10 GB Content-Length with Expect: 100-continue (refused before the body)',
      send: () => raw(rawHead(`Content-Type: ${MULTIPART}\nContent-Length: 10737418240\nExpect: 100-continue`), Buffer.alloc(0)),
      status: 413,
      code: 'UPLOAD_TOO_LARGE',
    },
    { name: 'a text field over the field limit (blueprint_json of 600 kB)', send: () => upload(withAudio({ blueprint_json: ' '.repeat(600 * 1024) })), status: 413, code: 'FIELD_TOO_LARGE' },
    // Multipart structure.
    { name: 'two files', send: () => upload([audio(), audio(M4A, 'b.m4a')]), status: 400, code: 'TOO_MANY_FILES' },
    { name: 'a file under another field name', send: () => upload([{ name: 'recording', filename: 'a.m4a', data: M4A }]), status: 400, code: 'UNEXPECTED_FILE_FIELD' },
    { name: 'broken multipart: cut before the closing boundary', send: () => upload(multipart([audio()], { close: false }).subarray(0, 5000)), status: 400, code: 'INVALID_MULTIPART' },
    { name: 'broken multipart: a part without headers', send: () => upload(Buffer.from(`--${BOUNDARY}\r\ngarbage without a blank line`)), status: 400, code: 'INVALID_MULTIPART' },
    { name: 'multipart without a boundary', send: () => upload(multipart([audio()]), { headers: { 'content-type': 'multipart/form-data' } }), status: 400, code: 'INVALID_MULTIPART' },
    { name: 'a 10,000-byte field name', send: () => upload(withAudio({ ['n'.repeat(10_000)]: 'x' })), status: 400, code: 'VALIDATION_FAILED' },
    { name: 'a NUL byte in the part headers', send: () => upload([audio(M4A, 'a\u0000.m4a')]), status: 400, code: 'INVALID_MULTIPART' },
    { name: 'the same field twice', send: () => upload([audio(), { name: 'style', value: 'lofi' }, { name: 'style', value: 'anthem' }]), status: 400, code: 'DUPLICATE_FIELD' },
    { name: 'more fields than the form has', send: () => upload([audio(), ...Array.from({ length: 9 }, (_, i) => ({ name: `f${i}`, value: 'x' }))]), status: 400, code: 'TOO_MANY_FIELDS' },
    // Content types.
    { name: 'wrong content type: text/plain', send: () => send('/v1/moments', { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } }), status: 415, code: 'MULTIPART_REQUIRED' },
    {
      name: 'wrong content type: JSON',
      send: () => send('/v1/moments', { method: 'POST', body: '{"file":"x"}', headers: { 'content-type': 'application/json' } }),
      status: 415,
      code: 'MULTIPART_REQUIRED',
    },
    {
      name: 'wrong content type: urlencoded',
      send: () => send('/v1/moments', { method: 'POST', body: 'file=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
      status: 415,
      code: 'MULTIPART_REQUIRED',
    },
    {
      name: 'wrong content type: audio/wav as the raw body',
      send: () => send('/v1/moments', { method: 'POST', body: new Uint8Array(wav(1)), headers: { 'content-type': 'audio/wav' } }),
      status: 415,
      code: 'MULTIPART_REQUIRED',
    },
    {
      name: 'the original route with a JSON body',
      send: () => send('/v1/create-moment', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }),
      status: 415,
      code: 'MULTIPART_REQUIRED',
    },
    // Encoding.
    { name: 'invalid UTF-8 in a text field', send: () => upload([audio(), { name: 'title', value: Buffer.from([0x48, 0x69, 0xff, 0xfe, 0xc3]) }]), status: 400, code: 'INVALID_ENCODING' },
    { name: 'invalid UTF-8 in the file name', send: () => upload([audio(M4A, Buffer.from([0x68, 0x75, 0x6d, 0xc3, 0x28, 0x2e, 0x6d, 0x34, 0x61]))]), status: 400, code: 'INVALID_ENCODING' },
    // Fields.
    { name: 'blueprint_json failing the schema', send: () => upload(withAudio({ blueprint_json: JSON.stringify({ ...BLUEPRINT, tempo_bpm: 500 }) })), status: 422, code: 'BLUEPRINT_INVALID' },
    {
      name: 'blueprint_json that is valid but asks for 10.6 hours of audio',
      send: () => upload(withAudio({ blueprint_json: JSON.stringify(TEN_HOUR_BLUEPRINT) })),
      status: 422,
      code: 'BLUEPRINT_TOO_LONG',
    },
    { name: 'blueprint_json that is not JSON', send: () => upload(withAudio({ blueprint_json: '{oops' })), status: 422, code: 'BLUEPRINT_INVALID' },
    { name: 'blueprint_json that is a JSON string', send: () => upload(withAudio({ blueprint_json: '"a blueprint"' })), status: 422, code: 'BLUEPRINT_INVALID' },
    { name: 'blueprint_json nested 10,000 levels', send: () => upload(withAudio({ blueprint_json: nested(10_000) })), status: 422, code: 'BLUEPRINT_INVALID' },
    { name: 'blueprint_json nested 250,000 levels (just under the field limit)', send: () => upload(withAudio({ blueprint_json: nested(250_000) })), status: 422, code: 'BLUEPRINT_INVALID' },
    { name: 'an unknown field', send: () => upload(withAudio({ colour: 'red' })), status: 400, code: 'VALIDATION_FAILED' },
    { name: 'a bad output_kind', send: () => upload(withAudio({ output_kind: 'album' })), status: 400, code: 'VALIDATION_FAILED' },
    { name: 'a style over 120 characters', send: () => upload(withAudio({ style: 's'.repeat(121) })), status: 400, code: 'VALIDATION_FAILED' },
    { name: 'a title over 200 characters', send: () => upload(withAudio({ title: 't'.repeat(201) })), status: 400, code: 'VALIDATION_FAILED' },
    { name: 'lyrics over 5,000 characters', send: () => upload(withAudio({ lyrics: 'la '.repeat(1700) })), status: 400, code: 'VALIDATION_FAILED' },
    // Idempotency-Key.
    { name: 'an Idempotency-Key over 255 characters', send: () => upload([audio()], { headers: { 'idempotency-key': 'k'.repeat(256) } }), status: 400, code: 'INVALID_IDEMPOTENCY_KEY' },
    { name: 'an Idempotency-Key with spaces', send: () => upload([audio()], { headers: { 'idempotency-key': 'my key' } }), status: 400, code: 'INVALID_IDEMPOTENCY_KEY' },
    { name: 'an empty Idempotency-Key', send: () => upload([audio()], { headers: { 'idempotency-key': '' } }), status: 400, code: 'INVALID_IDEMPOTENCY_KEY' },
    // Ids.
    { name: 'id ..%2f..', send: () => send('/v1/moments/..%2f..'), status: 404, code: 'MOMENT_NOT_FOUND' },
    { name: 'id ..%2F..%2Fetc%2Fpasswd on the original route', send: () => send('/v1/status/..%2F..%2Fetc%2Fpasswd'), status: 404, code: 'MOMENT_NOT_FOUND' },
    { name: 'a non-UUID id', send: () => send('/v1/moments/not-a-uuid'), status: 404, code: 'MOMENT_NOT_FOUND' },
    { name: 'a 10,000-character id', send: () => send(`/v1/moments/${'a'.repeat(10_000)}`), status: 404, code: 'MOMENT_NOT_FOUND' },
    { name: 'a UUID with trailing junk', send: () => send(`/v1/moments/${randomUUID()}%00`), status: 404, code: 'MOMENT_NOT_FOUND' },
    { name: 'cancel a non-UUID id', send: () => send('/v1/moments/not-a-uuid/cancel', { method: 'POST' }), status: 404, code: 'MOMENT_NOT_FOUND' },
    { name: 'admin: a 10,000-character job id', send: () => admin(`/jobs/${'b'.repeat(10_000)}`), status: 404, code: 'MOMENT_NOT_FOUND' },
    { name: 'admin: retry a non-UUID job id', send: () => admin('/jobs/..%2f../retry', { method: 'POST' }), status: 404, code: 'MOMENT_NOT_FOUND' },
    // Query parameters and admin bodies.
    { name: 'admin list limit=-1', send: () => admin('/jobs?limit=-1'), status: 400, code: 'VALIDATION_FAILED' },
    { name: 'admin list limit=abc', send: () => admin('/jobs?limit=abc'), status: 400, code: 'VALIDATION_FAILED' },
    { name: 'admin list limit=1.5', send: () => admin('/jobs?limit=1.5'), status: 400, code: 'VALIDATION_FAILED' },
    { name: 'admin list status=NOPE', send: () => admin('/jobs?status=NOPE'), status: 400, code: 'VALIDATION_FAILED' },
    { name: 'admin list with a cursor of invalid characters', send: () => admin('/jobs?cursor=%25%25%25'), status: 400, code: 'INVALID_CURSOR' },
    { name: 'admin list with a forged cursor', send: () => admin(`/jobs?cursor=${Buffer.from('yesterday|not-an-id').toString('base64url')}`), status: 400, code: 'INVALID_CURSOR' },
    { name: 'admin list with a 10,000-character cursor', send: () => admin(`/jobs?cursor=${'c'.repeat(10_000)}`), status: 400, code: 'VALIDATION_FAILED' },
    { name: 'admin list with an unknown parameter', send: () => admin('/jobs?sort=id'), status: 400, code: 'VALIDATION_FAILED' },
    { name: 'admin bulk retry with a body that is not JSON', send: () => admin('/jobs/retry-failed', { method: 'POST', body: '{not json' }), status: 400, code: 'INVALID_JSON' },
    { name: 'admin bulk retry with an unknown filter', send: () => admin('/jobs/retry-failed', { method: 'POST', body: JSON.stringify({ owner: 'x' }) }), status: 400, code: 'VALIDATION_FAILED' },
  ];

  it('has at least 30 cases, each named once', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
    expect(new Set(cases.map((entry) => entry.name)).size).toBe(cases.length);
  });

  it.each(cases)('$name → $status $code', async ({ send: request, status, code, detail }) => {
    const [rows, objects] = [await rowCount(), await objectKeys()];
    const { status: actual, contentType, body } = await request();
    expect({ status: actual, code: body.code }).toEqual({ status, code });
    if (detail) expect(body.detail).toMatch(detail);
    expect(contentType).toMatch(/^application\/problem\+json/);
    expect(body).toMatchObject({ type: `https://main-character.app/problems/${code.toLowerCase().replace(/_/g, '-')}`, title: expect.any(String), status, detail: expect.any(String) });
    expect(await rowCount()).toBe(rows);
    expect(await objectKeys()).toEqual(objects);
    expect(spooled()).toEqual([]);
    // The api is still well: the next request is served.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  describe('hostile file names are kept only as sanitised metadata', () => {
    it.each([
      ['a path-traversal name', `../../../etc/passwd`, 'passwd'],
      ['a Windows path-traversal name', '..\\..\\windows\\system32\\hum.m4a', 'hum.m4a'],
      ['a 10,000-character name', `${'y'.repeat(10_000)}.m4a`, 'y'.repeat(255)],
      ['a name of invisible format characters and dots', '\u202e\u200b..\u200b', null],
    ])('%s', async (_name, filename, kept) => {
      const response = await upload([audio(M4A, filename)]);
      expect(response.status).toBe(202);
      const id = response.body.id as string;
      const row = (await db.query('SELECT original_filename, assets FROM moments WHERE id = $1', [id])).rows[0];
      expect(row.original_filename).toBe(kept);
      expect(row.assets.original).toBe(`moments/${id}/original.m4a`);
      expect(await storage.listKeys(`moments/${id}/`)).toEqual([`moments/${id}/original.m4a`]);
      expect(spooled()).toEqual([]);
    });
  });

  describe('short, quiet and browser-made recordings are accepted', () => {
    it.each([
      ['a spoken two-word phrase of about a second (Ogg/Opus)', () => TWO_WORDS, 'opus'],
      ['the quiet phone hum (−45 LUFS, AAC in MP4)', () => M4A, 'm4a'],
      ['a MediaRecorder-style WebM/Opus (streamed: no cues, no duration)', () => made.recorderWebm, 'webm'],
      ["Safari's MediaRecorder-style fragmented MP4", () => made.recorderMp4, 'mp4'],
      ['an MP3', () => made.mp3, 'mp3'],
    ])('%s', async (_name, bytes, ext) => {
      const response = await upload([audio(bytes(), `take.${ext}`)]);
      expect({ status: response.status, code: response.body.code }).toEqual({ status: 202, code: undefined });
      const id = response.body.id as string;
      expect(await storage.listKeys(`moments/${id}/`)).toEqual([`moments/${id}/original.${ext}`]);
      expect(spooled()).toEqual([]);
    });
  });

  it('a large body cut off midway leaves nothing behind and the api keeps serving', async () => {
    const [rows, objects] = [await rowCount(), await objectKeys()];
    const body = multipart([audio(wav(30), 'a.wav')], { close: false });
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(rawHead(`Content-Type: ${MULTIPART}\nContent-Length: ${body.length + 1000}`).replace(/\n/g, '\r\n') + '\r\n\r\n');
        socket.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => socket.destroy(), 100));
      });
      socket.on('error', () => undefined);
      socket.on('close', () => resolve());
    });
    await expect.poll(spooled, { timeout: 5000 }).toEqual([]);
    expect(await rowCount()).toBe(rows);
    expect(await objectKeys()).toEqual(objects);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  describe('memory stays bounded during very large uploads', () => {
    const STREAM_BYTES = 200 * 1024 * 1024;
    const CHUNK = Buffer.alloc(256 * 1024, 0x5a);
    /** Same database and storage, but room for the whole stream: it is spooled to disk, then sniffed. */
    let roomyPort: number;
    let roomy: INestApplication;

    beforeAll(async () => {
      ({ app: roomy, port: roomyPort } = await startApi({ ...testEnv.env, MAX_UPLOAD_MB: '256' }));
    });

    afterAll(async () => {
      await roomy?.close();
    });

    /**
     * Streams STREAM_BYTES, generated chunk by chunk, after `head`, and keeps sending after the
     * answer as a naive client does, until all is sent or the server cuts the connection. This
     * process's RSS (the api runs in it) is sampled the whole time.
     */
    async function stream(target: number, headers: Record<string, string>, head: Buffer): Promise<{ answer: Answer; growthMb: number; sentMb: number }> {
      const start = process.memoryUsage().rss;
      let peak = start;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
      let sent = 0;
      try {
        const answer = await new Promise<Answer>((resolve, reject) => {
          const request = httpRequest({ host: '127.0.0.1', port: target, method: 'POST', path: '/v1/moments', headers: { 'content-type': MULTIPART, ...headers } });
          let answer: Answer | null = null;
          let pumping = true;
          const settle = () => {
            if (answer && !pumping) resolve(answer);
          };
          request.on('response', (response) => {
            const chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.on('end', () => {
              answer = { status: response.statusCode ?? 0, contentType: String(response.headers['content-type']), body: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
              settle();
            });
          });
          request.on('error', (error) => {
            pumping = false;
            if (answer) settle();
            else setTimeout(() => (answer ? settle() : reject(error)), 1000);
          });
          request.on('close', () => {
            pumping = false;
            settle();
          });
          request.write(head);
          const pump = () => {
            while (pumping && sent < STREAM_BYTES) {
              sent += CHUNK.length;
              if (!request.write(CHUNK)) return void request.once('drain', pump);
            }
            if (pumping) request.end(`\r\n--${BOUNDARY}--\r\n`);
          };
          pump();
        });
        return { answer, growthMb: (peak - start) / 1024 / 1024, sentMb: sent / 1024 / 1024 };
      } finally {
        clearInterval(sampler);
      }
    }

    const fileHead = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="huge.wav"\r\nContent-Type: application/octet-stream\r\n\r\n`);
    const fieldHead = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="lyrics"\r\n\r\n`);
    const honestLength = { 'content-length': String(fileHead.length + STREAM_BYTES + `\r\n--${BOUNDARY}--\r\n`.length) };

    it.each([
      { name: 'a 200 MB chunked file over MAX_UPLOAD_MB', roomy: false, headers: {}, head: fileHead, status: 413, code: 'UPLOAD_TOO_LARGE' },
      { name: 'a 200 MB chunked text field', roomy: false, headers: {}, head: fieldHead, status: 413, code: 'UPLOAD_TOO_LARGE' },
      { name: 'a 200 MB file with an honest Content-Length over MAX_UPLOAD_MB', roomy: false, headers: honestLength, head: fileHead, status: 413, code: 'UPLOAD_TOO_LARGE' },
      { name: 'a 200 MB chunked file within a 256 MB limit, spooled whole, not audio', roomy: true, headers: {}, head: fileHead, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    ])('$name → $status $code, RSS growth under 64 MB', async ({ roomy: useRoomy, headers, head, status, code }) => {
      const [rows, objects] = [await rowCount(), await objectKeys()];
      const { answer, growthMb, sentMb } = await stream(useRoomy ? roomyPort : port, headers, head);
      expect({ status: answer.status, code: answer.body.code }).toEqual({ status, code });
      expect(answer.contentType).toMatch(/^application\/problem\+json/);
      expect(growthMb, `RSS grew ${growthMb.toFixed(1)} MB while ${sentMb.toFixed(0)} MB were sent`).toBeLessThan(64);
      if (useRoomy) expect(sentMb).toBe(STREAM_BYTES / 1024 / 1024);
      await expect.poll(spooled, { timeout: 5000 }).toEqual([]);
      expect(await rowCount()).toBe(rows);
      expect(await objectKeys()).toEqual(objects);
    });
  });
});
