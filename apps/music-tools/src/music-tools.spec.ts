import { Midi } from '@tonejs/midi';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MusicToolsClient, MusicToolsError } from '@mcm/core/mcp';
import { arrange } from '@mcm/audio';
import { BLUEPRINT_SCHEMA } from '@mcm/pipeline';
import { looksLikeMp3, startTestStorage, toneWav, VALID_BLUEPRINT, type TestStorage } from '../test/fixtures';
import { startMusicToolsHttp, type MusicToolsHttp } from './http';

async function connect(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'music-tools-spec', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

describe('music-tools over Streamable HTTP', () => {
  let server: MusicToolsHttp;
  let client: Client;
  let workRoot: string;
  const previousTmp = process.env.TMPDIR;
  const previewWorkdirs = async () => (await readdir(workRoot)).filter((name) => name.startsWith('mcm-preview-'));

  beforeAll(async () => {
    // A private temp root, so the test can prove every work directory is removed.
    workRoot = await mkdtemp(path.join(tmpdir(), 'music-tools-spec-'));
    process.env.TMPDIR = workRoot;
    server = await startMusicToolsHttp({ port: 0 });
    client = await connect(server.url);
  });

  afterAll(async () => {
    await client?.close();
    await server?.close();
    process.env.TMPDIR = previousTmp;
    await rm(workRoot, { recursive: true, force: true });
  });

  it('binds a random port and answers health checks', async () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/mcp`);
    const response = await fetch(new URL('/healthz', server.url));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
    expect(await new MusicToolsClient({ baseUrl: `http://127.0.0.1:${server.port}` }).health()).toBe(true);
  });

  it('lists its tools with input and output schemas', async () => {
    const { tools } = await client.listTools();
    const byName = new Map(tools.map((tool) => [tool.name, tool]));
    expect([...byName.keys()].sort()).toEqual(['blueprint_duration', 'synthesize_preview', 'validate_blueprint']);

    const synthesize = byName.get('synthesize_preview')!;
    expect(synthesize.inputSchema.required).toEqual(['blueprint']);
    const blueprintSchema = synthesize.inputSchema.properties!.blueprint as Record<string, unknown>;
    expect(blueprintSchema.required).toEqual(BLUEPRINT_SCHEMA.required);
    expect(blueprintSchema.additionalProperties).toBe(false);
    expect(Object.keys(synthesize.inputSchema.properties!)).toEqual(['blueprint', 'stems', 'upload']);
    const upload = synthesize.inputSchema.properties!.upload as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(upload.properties)).toEqual(['preview_url', 'master_url', 'midi_url', 'peaks_url']);
    expect(upload.required).toEqual(['preview_url', 'master_url']);
    expect(Object.keys(synthesize.outputSchema!.properties!)).toEqual(
      expect.arrayContaining(['duration_ms', 'mime_type', 'loudness_lufs', 'true_peak_dbtp', 'uploaded', 'bytes', 'code', 'retryable']),
    );

    const validate = byName.get('validate_blueprint')!;
    expect(Object.keys(validate.inputSchema.properties!)).toEqual(['blueprint']);
    expect(validate.outputSchema!.required).toEqual(['ok', 'errors']);
    expect(validate.annotations?.readOnlyHint).toBe(true);
  });

  it('publishes the blueprint JSON Schema as a resource', async () => {
    const { resources } = await client.listResources();
    expect(resources).toContainEqual(expect.objectContaining({ uri: 'blueprint://schema', mimeType: 'application/schema+json' }));
    const { contents } = await client.readResource({ uri: 'blueprint://schema' });
    expect(JSON.parse((contents[0] as { text: string }).text)).toEqual(BLUEPRINT_SCHEMA);
  });

  it('accepts a valid blueprint', async () => {
    const result = (await client.callTool({ name: 'validate_blueprint', arguments: { blueprint: VALID_BLUEPRINT } })) as CallToolResult;
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({ ok: true, errors: [] });
    expect((result.content[0] as { text: string }).text).toContain('4 bars of 4/4 at 120 bpm in Am, 8.0 s');
  });

  it('names the JSON path of each problem in an invalid blueprint', async () => {
    const blueprint = { ...VALID_BLUEPRINT, tempo_bpm: 500, surprise: true, voice: {} };
    const result = (await client.callTool({ name: 'validate_blueprint', arguments: { blueprint } })) as CallToolResult;
    expect(result.isError).toBe(true);
    const { ok, errors } = result.structuredContent as { ok: boolean; errors: { path: string; message: string }[] };
    expect(ok).toBe(false);
    expect(errors).toEqual(
      expect.arrayContaining([
        { path: '/tempo_bpm', message: 'must be <= 220' },
        { path: '/surprise', message: 'unknown property' },
        { path: '/voice/voice_id', message: 'is required' },
      ]),
    );
    expect((result.content[0] as { text: string }).text).toContain('/tempo_bpm must be <= 220');
  });

  it('answers validate_blueprint through MusicToolsClient without throwing on an invalid blueprint', async () => {
    const tools = new MusicToolsClient({ baseUrl: server.url });
    expect(await tools.validateBlueprint(VALID_BLUEPRINT)).toEqual({ ok: true, errors: [] });
    const invalid = await tools.validateBlueprint({ ...VALID_BLUEPRINT, key: 'H' });
    expect(invalid.ok).toBe(false);
    expect(invalid.errors).toEqual([{ path: '/key', message: 'must match pattern "^[A-G](#|b)?m?$"' }]);
  });

  it('computes how long a blueprint plays', async () => {
    const blueprint = { ...VALID_BLUEPRINT, time_signature: '3/4', tempo_bpm: 90 };
    const result = (await client.callTool({ name: 'blueprint_duration', arguments: { blueprint } })) as CallToolResult;
    expect(result.structuredContent).toEqual({ ok: true, seconds: 8, bars: 4, beats_per_bar: 3, tempo_bpm: 90 });
  });

  it('refuses to synthesize an invalid blueprint with its errors', async () => {
    const blueprint = { ...VALID_BLUEPRINT, sections: [] };
    const result = (await client.callTool({ name: 'synthesize_preview', arguments: { blueprint } })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({
      ok: false,
      code: 'INVALID_BLUEPRINT',
      retryable: false,
      errors: [{ path: '/sections', message: 'must NOT have fewer than 1 items' }],
    });
  });

  it('returns the preview as MP3 audio content when no upload is given', async () => {
    const result = (await client.callTool({ name: 'synthesize_preview', arguments: { blueprint: VALID_BLUEPRINT } }, undefined, { timeout: 120_000 })) as CallToolResult;
    expect(result.isError).toBeFalsy();
    const audio = result.content.find((part) => part.type === 'audio') as { data: string; mimeType: string };
    expect(audio.mimeType).toBe('audio/mpeg');
    const mp3 = Buffer.from(audio.data, 'base64');
    expect(looksLikeMp3(mp3)).toBe(true);
    const report = result.structuredContent as Record<string, number | string | boolean>;
    expect(report).toMatchObject({ ok: true, mime_type: 'audio/mpeg', uploaded: false, bytes: mp3.length });
    expect(report.duration_ms as number).toBeGreaterThan(7_500);
    expect(report.duration_ms as number).toBeLessThan(9_500);
    expect(report.loudness_lufs as number).toBeGreaterThanOrEqual(-15);
    expect(report.loudness_lufs as number).toBeLessThanOrEqual(-13);
    expect(report.true_peak_dbtp as number).toBeLessThanOrEqual(-0.9);
    // 8 s of MP3 at any usual bitrate (64–320 kbit/s).
    expect(mp3.length).toBeGreaterThan(60_000);
    expect(mp3.length).toBeLessThan(400_000);
    expect(await previewWorkdirs()).toEqual([]);
  });

  describe('with presigned S3 URLs', () => {
    let storage: TestStorage;

    beforeAll(async () => {
      storage = await startTestStorage();
      await storage.put('moments/m1/vocals.wav', toneWav(8), 'audio/wav');
    });

    afterAll(async () => {
      await storage?.close();
    });

    it('downloads the vocal stem, renders the instrumental and uploads preview and master', async () => {
      const upload = { preview_url: await storage.presignPut('moments/m1/preview.mp3'), master_url: await storage.presignPut('moments/m1/master.wav') };
      const stems = { vocals_url: await storage.presignGet('moments/m1/vocals.wav') };
      const result = (await client.callTool(
        { name: 'synthesize_preview', arguments: { blueprint: VALID_BLUEPRINT, stems, upload } },
        undefined,
        { timeout: 120_000 },
      )) as CallToolResult;
      expect(result.isError).toBeFalsy();
      expect(result.content.map((part) => part.type)).toEqual(['text']);
      const report = result.structuredContent as { duration_ms: number; loudness_lufs: number; true_peak_dbtp: number; bytes: number; uploaded: boolean };
      expect(report.uploaded).toBe(true);

      const preview = await storage.get('moments/m1/preview.mp3');
      expect(preview.contentType).toBe('audio/mpeg');
      expect(looksLikeMp3(preview.body)).toBe(true);
      expect(report.bytes).toBe(preview.body.length);
      expect(report.duration_ms).toBeGreaterThan(7_500);
      expect(report.duration_ms).toBeLessThan(9_500);
      expect(Math.abs(report.loudness_lufs + 14)).toBeLessThanOrEqual(1);
      expect(report.true_peak_dbtp).toBeLessThanOrEqual(-0.9);

      const master = await storage.get('moments/m1/master.wav');
      expect(master.contentType).toBe('audio/wav');
      expect(master.body.subarray(0, 4).toString('latin1')).toBe('RIFF');
      expect(master.body.subarray(8, 12).toString('latin1')).toBe('WAVE');
      expect(master.body.length).toBeGreaterThan(preview.body.length);
      expect(await previewWorkdirs()).toEqual([]);
    });

    it('mixes stored stems through MusicToolsClient, as the worker does, with the MIDI arrangement and waveform peaks', async () => {
      await storage.put('moments/m2/instrumental.wav', toneWav(8), 'audio/wav');
      const tools = new MusicToolsClient({ baseUrl: `http://127.0.0.1:${server.port}`, timeoutMs: 120_000 });
      const report = await tools.synthesizePreview({
        blueprint: VALID_BLUEPRINT,
        stems: { instrumental_url: await storage.presignGet('moments/m2/instrumental.wav'), vocals_url: await storage.presignGet('moments/m1/vocals.wav') },
        upload: {
          preview_url: await storage.presignPut('moments/m2/preview.mp3'),
          master_url: await storage.presignPut('moments/m2/master.wav'),
          midi_url: await storage.presignPut('moments/m2/arrangement.mid'),
          peaks_url: await storage.presignPut('moments/m2/peaks.json'),
        },
      });
      const preview = await storage.get('moments/m2/preview.mp3');
      expect(looksLikeMp3(preview.body)).toBe(true);
      expect(report.bytes).toBe(preview.body.length);
      expect(report.duration_ms).toBeGreaterThan(7_500);
      expect(Math.abs(report.loudness_lufs + 14)).toBeLessThanOrEqual(1);
      expect(report.true_peak_dbtp).toBeLessThanOrEqual(-0.9);

      const midiFile = await storage.get('moments/m2/arrangement.mid');
      expect(midiFile.body.subarray(0, 4).toString('latin1')).toBe('MThd');
      const midi = new Midi(midiFile.body);
      // One track per instrument of the blueprint's Score, the same Score the instrumental is played from.
      expect(midi.tracks.map((track) => [track.name, track.instrument.number])).toEqual(arrange(VALID_BLUEPRINT).tracks.map((track) => [track.name, track.program]));
      expect(Math.abs(midi.duration - report.duration_ms / 1000)).toBeLessThan(0.1);

      const peaksFile = await storage.get('moments/m2/peaks.json');
      expect(peaksFile.contentType).toBe('application/json');
      const peaks = JSON.parse(peaksFile.body.toString('utf8')) as { version: number; samples_per_pixel: number; sample_rate: number; length: number; data: number[] };
      expect(peaks).toMatchObject({ version: 2, channels: 1, bits: 8, sample_rate: 44100 });
      expect(peaks.length).toBe(Math.ceil(((report.duration_ms / 1000) * 44100) / peaks.samples_per_pixel));
      expect(peaks.data).toHaveLength(peaks.length * 2);
    });

    it('fails with STEM_DOWNLOAD_FAILED when a stem is missing, and cleans up', async () => {
      const tools = new MusicToolsClient({ baseUrl: server.url });
      const error = await tools
        .synthesizePreview({
          blueprint: VALID_BLUEPRINT,
          stems: { instrumental_url: await storage.presignGet('moments/m3/instrumental.wav') },
          upload: { preview_url: await storage.presignPut('moments/m3/preview.mp3'), master_url: await storage.presignPut('moments/m3/master.wav') },
        })
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(MusicToolsError);
      expect(error).toMatchObject({ code: 'STEM_DOWNLOAD_FAILED', retryable: false });
      expect((error as Error).message).toContain('HTTP 404');
      expect(await previewWorkdirs()).toEqual([]);
    });
  });
});

describe('music-tools with a bearer token', () => {
  const token = 'spec-token-0123456789abcdef';
  let server: MusicToolsHttp;

  beforeAll(async () => {
    server = await startMusicToolsHttp({ port: 0, authToken: token });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('refuses /mcp without the token with a JSON 401, and keeps /healthz open', async () => {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('Bearer');
    expect(await response.json()).toMatchObject({ error: { message: expect.stringContaining('Unauthorized') } });

    const wrong = await fetch(server.url, { method: 'POST', headers: { Authorization: `Bearer ${token}x` } });
    expect(wrong.status).toBe(401);

    expect((await fetch(new URL('/healthz', server.url))).status).toBe(200);
  });

  it('tells MusicToolsClient that the credentials are wrong, not that the server is down', async () => {
    const error = await new MusicToolsClient({ baseUrl: server.url, authToken: 'wrong' }).validateBlueprint(VALID_BLUEPRINT).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'MCP_UNAUTHORIZED', retryable: false });
  });

  it('serves tools to clients that send the token', async () => {
    const client = await connect(server.url, { Authorization: `Bearer ${token}` });
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toContain('validate_blueprint');
    await client.close();
    expect(await new MusicToolsClient({ baseUrl: server.url, authToken: token }).validateBlueprint(VALID_BLUEPRINT)).toEqual({ ok: true, errors: [] });
  });
});
