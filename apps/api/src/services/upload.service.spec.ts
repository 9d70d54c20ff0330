import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refusal } from '../../../../test/support/refusal';
import { UploadService } from './upload.service';
import { scratchDirectories } from '../../../../test/support/scratch';

const scratch = scratchDirectories();

const uploads = new UploadService({ MAX_AUDIO_SECONDS: 5, MIN_AUDIO_SECONDS: 0.5, MAX_CONCURRENT_PROBES: 1, PROBE_TIMEOUT_MS: 30_000 });

const WAV_HEADER = Buffer.concat([
  Buffer.from('RIFF'),
  Buffer.from([36, 0, 0, 0]),
  Buffer.from('WAVEfmt '),
  Buffer.from([16, 0, 0, 0, 1, 0, 1, 0, 0x44, 0xac, 0, 0, 0x88, 0x58, 1, 0, 2, 0, 16, 0]),
  Buffer.from('data'),
  Buffer.from([0, 0, 0, 0]),
]);
const PNG_HEADER = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');

describe('UploadService.sniff', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcm-sniff-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const sniff = async (name: string, bytes: Buffer) => {
    const path = join(dir, name);
    await writeFile(path, bytes);
    return uploads.sniff(path);
  };

  it('recognises audio by its bytes whatever the name', async () => {
    expect(await sniff('clip.png', Buffer.concat([WAV_HEADER, Buffer.alloc(64)]))).toEqual({ ext: 'wav', mime: 'audio/wav', demuxer: 'wav' });
  });

  it('refuses images and text with 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    expect(await refusal(sniff('photo.wav', PNG_HEADER))).toMatchObject({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
    expect(await refusal(sniff('notes.mp3', Buffer.from('just some text, not audio at all')))).toMatchObject({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
  });
});

describe('UploadService.probe', () => {
  const take = join(__dirname, '../../../../test/fixtures/voice-clean.wav');
  const wav = { ext: 'wav', mime: 'audio/wav', demuxer: 'wav' };
  const checker = new UploadService({ MAX_AUDIO_SECONDS: 60, MIN_AUDIO_SECONDS: 0.5, MAX_CONCURRENT_PROBES: 1, PROBE_TIMEOUT_MS: 30_000 });

  it('checks at most MAX_CONCURRENT_PROBES uploads at once and tells the next client when to retry', async () => {
    const clientGone = new AbortController();
    const running = checker.probe(take, wav, clientGone.signal);
    expect(await refusal(checker.probe(take, wav))).toMatchObject({ status: 503, code: 'AUDIO_ENGINE_BUSY', extras: { headers: { 'Retry-After': '2' } } });
    clientGone.abort();
    expect(await refusal(running)).toMatchObject({ status: 400, code: 'REQUEST_ABORTED' });
    // The aborted check gave its slot back.
    expect(await checker.probe(take, wav)).toMatchObject({ format: 'wav', channels: 1 });
  });

  it('checks a recording by its container, then by decoding it as that container', async () => {
    expect(await checker.check(take)).toEqual(wav);
    const silence = join(await scratch('mcm-check-'), 'silence.wav');
    await writeFile(silence, Buffer.concat([WAV_HEADER, Buffer.alloc(44_100 * 2)]));
    try {
      expect(await refusal(checker.check(silence))).toMatchObject({ status: 422 });
    } finally {
      await rm(silence, { force: true });
    }
  });
});
