import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffmpegInput, runFfmpeg } from '@mcm/audio';
import { startTestStorage, toneWav, VALID_BLUEPRINT, type TestStorage } from '../../test/fixtures';
import { startMusicToolsHttp, type MusicToolsHttp } from '../http';

const CLEAN = path.resolve(__dirname, '../../../../test/fixtures/voice-clean.wav');

/**
 * synthesize_preview over Streamable HTTP, with stems on S3-compatible storage: a stem is decoded
 * as the WAV file the pipeline writes, never as what its URL or its bytes suggest.
 */
describe('synthesize_preview decodes stems only as WAV', () => {
  let server: MusicToolsHttp;
  let client: Client;
  let storage: TestStorage;
  let workRoot: string;
  let elsewhere: string;
  const previousTmp = process.env.TMPDIR;
  const previewWorkdirs = async () => (await readdir(workRoot)).filter((name) => name.startsWith('mcm-preview-'));

  beforeAll(async () => {
    workRoot = await mkdtemp(path.join(tmpdir(), 'synthesize-preview-spec-'));
    process.env.TMPDIR = workRoot;
    // A recording on music-tools' own disk, in a container every ffmpeg follows from a playlist.
    elsewhere = path.join(workRoot, 'elsewhere.mp3');
    await runFfmpeg([...ffmpegInput(CLEAN, 'wav'), '-c:a', 'libmp3lame', '-b:a', '64k', '-y', elsewhere]);
    storage = await startTestStorage();
    await storage.put('moments/m1/stems/instrumental.wav', toneWav(8), 'audio/wav');
    const playlist = `#EXTM3U\n#EXT-X-TARGETDURATION:20\n#EXTINF:20,\n${elsewhere}\n#EXT-X-ENDLIST\n`;
    await storage.put('moments/m1/stems/vocals.m3u8', Buffer.from(playlist), 'application/vnd.apple.mpegurl');
    await storage.put('moments/m1/stems/vocals.wav', Buffer.from(playlist), 'audio/wav');
    await storage.put('moments/m1/stems/concat.ffconcat', Buffer.from(`ffconcat version 1.0\nfile instrumental.wav\n`), 'text/plain');
    server = await startMusicToolsHttp({ port: 0, storage: storage.location });
    client = new Client({ name: 'synthesize-preview-spec', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
  });

  afterAll(async () => {
    await client?.close();
    await server?.close();
    await storage?.close();
    if (previousTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previousTmp;
    await rm(workRoot, { recursive: true, force: true });
  });

  const synthesize = async (stems: Record<string, string>) =>
    (await client.callTool({ name: 'synthesize_preview', arguments: { blueprint: VALID_BLUEPRINT, stems } }, undefined, { timeout: 120_000 })) as CallToolResult;

  it.each([
    ['an HLS playlist naming a local recording, as the vocals (.m3u8 URL)', 'vocals_url', 'moments/m1/stems/vocals.m3u8'],
    ['the same playlist behind a .wav URL', 'vocals_url', 'moments/m1/stems/vocals.wav'],
    ['the same playlist as the instrumental', 'instrumental_url', 'moments/m1/stems/vocals.m3u8'],
    ['an ffconcat script naming the other stem beside it', 'vocals_url', 'moments/m1/stems/concat.ffconcat'],
  ])('%s → isError AUDIO_UNDECODABLE, not a preview of the local file', async (_name, field, key) => {
    const stems = { instrumental_url: await storage.presignGet('moments/m1/stems/instrumental.wav'), [field]: await storage.presignGet(key) };
    const result = await synthesize(stems);
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({ ok: false, code: 'AUDIO_UNDECODABLE', retryable: false });
    expect(result.content.some((part) => part.type === 'audio')).toBe(false);
    expect(await previewWorkdirs()).toEqual([]);
  });

  it('mixes a real WAV stem', async () => {
    await storage.put('moments/m1/stems/real-vocals.wav', toneWav(8), 'audio/wav');
    const result = await synthesize({
      instrumental_url: await storage.presignGet('moments/m1/stems/instrumental.wav'),
      vocals_url: await storage.presignGet('moments/m1/stems/real-vocals.wav'),
    });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ ok: true, mime_type: 'audio/mpeg' });
  });
});
