import { Midi } from '@tonejs/midi';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MusicToolsClient, MusicToolsError } from '@mcm/core/mcp';
import { arrange } from '@mcm/audio';
import { BLUEPRINT_SCHEMA } from '@mcm/pipeline';
import { freePort } from '../../../test/support/free-port';
import { TEN_HOUR_BLUEPRINT } from '../../../test/support/blueprints';
import {
  connectMcp,
  liveFfmpegChildren,
  LONGEST_BLUEPRINT,
  looksLikeMp3,
  presignedQuery,
  startTargetServer,
  startTestStorage,
  toneWav,
  VALID_BLUEPRINT,
  type TargetServer,
  type TestStorage,
} from '../test/fixtures';
import { startMusicToolsHttp, type MusicToolsHttp } from './http';
import { RenderGate } from './render-gate';

describe('music-tools over Streamable HTTP', () => {
  let server: MusicToolsHttp;
  let client: Client;
  let storage: TestStorage;
  let workRoot: string;
  const logs: string[] = [];
  const previousTmp = process.env.TMPDIR;
  const previewWorkdirs = async () => (await readdir(workRoot)).filter((name) => name.startsWith('mcm-preview-'));

  beforeAll(async () => {
    // A private temp root, so the test can prove every work directory is removed.
    workRoot = await mkdtemp(path.join(tmpdir(), 'music-tools-spec-'));
    process.env.TMPDIR = workRoot;
    storage = await startTestStorage();
    server = await startMusicToolsHttp({ port: 0, storage: storage.location, log: (line) => logs.push(line) });
    client = await connectMcp(server.url);
  });

  afterAll(async () => {
    await client?.close();
    await server?.close();
    await storage?.close();
    // Assigning undefined would store the string 'undefined'.
    if (previousTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previousTmp;
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
    expect([...byName.keys()].sort()).toEqual(['blueprint_duration', 'create_moment', 'get_moment', 'list_styles', 'synthesize_preview', 'validate_blueprint', 'wait_for_moment']);

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

  it('publishes the blueprint JSON Schema as the blueprint argument of every tool that takes one', async () => {
    const { tools } = await client.listTools();
    const { $schema: _dialect, $id: _id, description: _description, ...expected } = BLUEPRINT_SCHEMA;
    const blueprintTools = tools.filter((tool) => tool.inputSchema.properties?.blueprint);
    expect(blueprintTools.map((tool) => tool.name).sort()).toEqual(['blueprint_duration', 'synthesize_preview', 'validate_blueprint']);
    for (const tool of blueprintTools) {
      const published = tool.inputSchema.properties!.blueprint as Record<string, unknown>;
      expect({ tool: tool.name, ...published }).toMatchObject({ tool: tool.name, ...expected, type: 'object' });
    }
  });

  it('accepts a blueprint sent as JSON text, as generic clients do', async () => {
    const text = JSON.stringify(VALID_BLUEPRINT);
    const valid = (await client.callTool({ name: 'validate_blueprint', arguments: { blueprint: text } })) as CallToolResult;
    expect(valid.isError).toBeFalsy();
    expect(valid.structuredContent).toEqual({ ok: true, errors: [] });
    const duration = (await client.callTool({ name: 'blueprint_duration', arguments: { blueprint: text } })) as CallToolResult;
    expect(duration.isError).toBeFalsy();
    expect(duration.structuredContent).toMatchObject({ ok: true, seconds: 8, bars: 4 });
    // Text that is no JSON is still answered with the blueprint's own error, not a protocol failure.
    const garbled = (await client.callTool({ name: 'validate_blueprint', arguments: { blueprint: '{not json' } })) as CallToolResult;
    expect(garbled.isError).toBe(true);
    expect(garbled.structuredContent).toEqual({ ok: false, errors: [{ path: '/', message: 'must be object' }] });
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

  it('refuses to render a valid blueprint longer than the render limit, before any render work', async () => {
    const validated = (await client.callTool({ name: 'validate_blueprint', arguments: { blueprint: TEN_HOUR_BLUEPRINT } })) as CallToolResult;
    expect(validated.structuredContent).toEqual({ ok: true, errors: [] });

    const result = (await client.callTool({ name: 'synthesize_preview', arguments: { blueprint: TEN_HOUR_BLUEPRINT } })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toEqual({
      ok: false,
      code: 'BLUEPRINT_TOO_LONG',
      message: 'The blueprint asks for 10.6 hours of audio; at most 300 seconds can be rendered.',
      retryable: false,
    });
    // The worker's client sees a failure it must not retry.
    const error = await new MusicToolsClient({ baseUrl: server.url })
      .synthesizePreview({
        blueprint: TEN_HOUR_BLUEPRINT,
        stems: { instrumental_url: 'http://127.0.0.1:9/i.wav' },
        upload: { preview_url: 'http://127.0.0.1:9/p', master_url: 'http://127.0.0.1:9/m' },
      })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'BLUEPRINT_TOO_LONG', retryable: false });
    expect(await previewWorkdirs()).toEqual([]);
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
    beforeAll(async () => {
      await storage.put('moments/m1/vocals.wav', toneWav(8), 'audio/wav');
    });

    it('downloads the vocal stem, renders the instrumental and uploads preview and master', async () => {
      const upload = { preview_url: await storage.presignPut('moments/m1/preview.mp3'), master_url: await storage.presignPut('moments/m1/master.wav') };
      const stems = { vocals_url: await storage.presignGet('moments/m1/vocals.wav') };
      const result = (await client.callTool({ name: 'synthesize_preview', arguments: { blueprint: VALID_BLUEPRINT, stems, upload } }, undefined, { timeout: 120_000 })) as CallToolResult;
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
      expect((error as Error).message).toContain('A stem could not be downloaded from storage.');
      expect((error as Error).message).not.toContain('404');
      expect(logs.join('\n')).toContain(`/moments/m3/instrumental.wav: HTTP 404`);
      expect(await previewWorkdirs()).toEqual([]);
    });
  });

  describe('reaching only presigned URLs of the configured storage', () => {
    const targets: TargetServer[] = [];
    const refusal = { ok: false, code: 'URL_NOT_ALLOWED', retryable: false, message: "Only presigned URLs of this service's storage are accepted." };
    const synthesize = async (args: Record<string, unknown>) =>
      (await client.callTool({ name: 'synthesize_preview', arguments: { blueprint: VALID_BLUEPRINT, ...args } }, undefined, { timeout: 120_000 })) as CallToolResult;

    beforeAll(async () => {
      await storage.put('moments/victim/original.wav', toneWav(8), 'audio/wav');
      await storage.put('moments/victim/preview.mp3', Buffer.from('the victim preview'), 'audio/mpeg');
    });

    afterAll(async () => {
      await Promise.all(targets.map((target) => target.close()));
    });

    it("refuses an unsigned URL to another moment's recording, and fetches nothing", async () => {
      const before = storage.requests.length;
      const result = await synthesize({ stems: { vocals_url: `${storage.endpoint}/${storage.bucket}/moments/victim/original.wav` } });
      expect(result.isError).toBe(true);
      expect(result.structuredContent).toEqual(refusal);
      expect(result.content.map((part) => part.type)).toEqual(['text']);
      expect(storage.requests.slice(before)).toEqual([]);
      expect(await previewWorkdirs()).toEqual([]);
    });

    it("refuses a forged signature for another moment's recording: storage answers 403 and nothing is read", async () => {
      const victim = `/${storage.bucket}/moments/victim/original.wav`;
      const forged = [
        // The caller's own presigned URL, edited to name the victim's recording: it passes the allow-list, which sees only its shape.
        (await storage.presignGet('moments/m5/vocals.wav')).replace('/moments/m5/vocals.wav', '/moments/victim/original.wav'),
        (await storage.presignGet('moments/victim/original.wav')).replace(/X-Amz-Signature=[0-9a-f]{64}/, `X-Amz-Signature=${'0'.repeat(64)}`),
      ];
      for (const vocals_url of forged) {
        const before = storage.requests.length;
        const logged = logs.length;
        const result = await synthesize({ stems: { vocals_url } });
        expect(result.isError, vocals_url).toBe(true);
        expect(result.structuredContent).toEqual({ ok: false, code: 'STEM_DOWNLOAD_FAILED', retryable: false, message: 'A stem could not be downloaded from storage.' });
        // No audio comes back: the victim's recording was never mixed.
        expect(result.content.map((part) => part.type)).toEqual(['text']);
        expect(storage.requests.slice(before)).toEqual([`GET ${victim}`]);
        expect(logs.slice(logged)).toContain(`STEM_DOWNLOAD_FAILED ${storage.endpoint}${victim}: HTTP 403`);
      }
      expect(await previewWorkdirs()).toEqual([]);
    });

    it("refuses a forged signature over another moment's preview: storage answers 403 and the preview stays", async () => {
      const forged = (await storage.presignPut('moments/m6/preview.mp3')).replace('/moments/m6/preview.mp3', '/moments/victim/preview.mp3');
      const result = await synthesize({ upload: { preview_url: forged, master_url: await storage.presignPut('moments/m6/master.wav') } });
      expect(result.isError).toBe(true);
      expect(result.structuredContent).toEqual({ ok: false, code: 'UPLOAD_FAILED', retryable: false, message: 'A result could not be uploaded to storage.' });
      expect(logs.join('\n')).toContain(`UPLOAD_FAILED ${storage.endpoint}/${storage.bucket}/moments/victim/preview.mp3: HTTP 403 (SignatureDoesNotMatch)`);
      expect((await storage.get('moments/victim/preview.mp3')).body.toString()).toBe('the victim preview');
      expect(await previewWorkdirs()).toEqual([]);
    });

    it('refuses to PUT to another bucket, host or internal address, in the same words whatever the target', async () => {
      const notFound = await startTargetServer('not-found');
      const hanging = await startTargetServer('hang');
      targets.push(notFound, hanging);
      const query = presignedQuery(await storage.presignPut('moments/m4/preview.mp3'));
      const previewUrls = [
        `http://169.254.169.254/latest/meta-data/iam/security-credentials/${query}`,
        `http://127.0.0.1:${await freePort()}/${storage.bucket}/moments/m4/preview.mp3${query}`,
        `${notFound.origin}/${storage.bucket}/moments/m4/preview.mp3${query}`,
        `${hanging.origin}/${storage.bucket}/moments/m4/preview.mp3${query}`,
        `${storage.endpoint}/another-bucket/moments/victim/preview.mp3${query}`,
        `${storage.endpoint}/${storage.bucket}/moments/victim/preview.mp3`,
      ];
      const before = storage.requests.length;
      const texts: string[] = [];
      for (const preview_url of previewUrls) {
        const result = await synthesize({ upload: { preview_url, master_url: await storage.presignPut('moments/m4/master.wav') } });
        expect(result.isError, preview_url).toBe(true);
        expect(result.structuredContent, preview_url).toEqual(refusal);
        texts.push((result.content[0] as { text: string }).text);
      }
      expect(new Set(texts)).toEqual(new Set([`URL_NOT_ALLOWED: ${refusal.message}`]));
      // Nothing reached any target, and the allowed master URL was not used either.
      expect([...notFound.requests, ...hanging.requests, ...storage.requests.slice(before)]).toEqual([]);
      expect((await storage.get('moments/victim/preview.mp3')).body.toString()).toBe('the victim preview');
    });
  });
});

describe('music-tools under load', () => {
  let server: MusicToolsHttp;
  let workRoot: string;
  const gate = new RenderGate(1, 1);
  const lines: string[] = [];
  const clients: Client[] = [];
  const previousTmp = process.env.TMPDIR;
  const previewWorkdirs = async () => (await readdir(workRoot)).filter((name) => name.startsWith('mcm-preview-'));
  const outcome = (id: string) => lines.find((line) => line.startsWith(`synthesize_preview ${id} `));
  const render = async (blueprint: Record<string, unknown>) => {
    const client = await connectMcp(server.url);
    clients.push(client);
    const call = client.callTool({ name: 'synthesize_preview', arguments: { blueprint } }, undefined, { timeout: 120_000 }) as Promise<CallToolResult>;
    // The call is abandoned below by closing its client; its own rejection says nothing.
    call.catch(() => undefined);
    return { client, call };
  };

  beforeAll(async () => {
    workRoot = await mkdtemp(path.join(tmpdir(), 'music-tools-load-'));
    process.env.TMPDIR = workRoot;
    server = await startMusicToolsHttp({ port: 0, renderGate: gate, log: (line) => lines.push(line) });
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await server?.close();
    // Assigning undefined would store the string 'undefined'.
    if (previousTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previousTmp;
    await rm(workRoot, { recursive: true, force: true });
  });

  it('answers a retryable MUSIC_TOOLS_BUSY at once when every render slot and the wait queue are taken', async () => {
    const first = await render({ ...LONGEST_BLUEPRINT, id: 'bp-first' });
    await vi.waitFor(() => expect(gate.running).toBe(1), { timeout: 30_000, interval: 10 });
    const second = await render({ ...VALID_BLUEPRINT, id: 'bp-second' });
    await vi.waitFor(() => expect(gate.waiting).toBe(1), { timeout: 30_000, interval: 10 });

    // The first render holds its slot throughout: this answer did not wait for one.
    const third = await connectMcp(server.url);
    clients.push(third);
    const busy = (await third.callTool({ name: 'synthesize_preview', arguments: { blueprint: VALID_BLUEPRINT } })) as CallToolResult;
    expect(busy).toMatchObject({ isError: true, structuredContent: { code: 'MUSIC_TOOLS_BUSY', retryable: true } });
    expect(gate.running).toBe(1);

    // A waiting caller that goes away leaves the queue; the abandoned render gives its slot back.
    await second.client.close();
    await vi.waitFor(() => expect(gate.waiting).toBe(0), { timeout: 30_000, interval: 10 });
    await first.client.close();
    await vi.waitFor(() => expect(gate.running).toBe(0), { timeout: 60_000, interval: 20 });
    expect(outcome('bp-second')).toMatch(/failed: CANCELED/);
    expect(await previewWorkdirs()).toEqual([]);
  });

  it('stops the instrumental render when the caller goes away', async () => {
    const { client } = await render({ ...LONGEST_BLUEPRINT, id: 'bp-abandoned-render' });
    // Without stems the slot is taken for the thread render of all 300 seconds.
    await vi.waitFor(() => expect(gate.running).toBe(1), { timeout: 30_000, interval: 10 });
    await client.close();

    await vi.waitFor(() => expect(outcome('bp-abandoned-render')).toBeDefined(), { timeout: 60_000, interval: 20 });
    expect(outcome('bp-abandoned-render')).toMatch(/failed: AUDIO_ABORTED .*renderInstrumental was stopped/);
    await vi.waitFor(() => expect(gate.running).toBe(0), { timeout: 30_000, interval: 20 });
    expect(await liveFfmpegChildren()).toEqual([]);
    expect(await previewWorkdirs()).toEqual([]);
  });

  it("kills the mix's ffmpeg processes when the caller goes away", async () => {
    const { client } = await render({
      ...VALID_BLUEPRINT,
      id: 'bp-abandoned-mix',
      sections: [
        { name: 'verse', bars: 30, energy: 0.5 },
        { name: 'chorus', bars: 30, energy: 0.9 },
      ],
    });
    await vi.waitFor(async () => expect((await liveFfmpegChildren()).length).toBeGreaterThan(0), { timeout: 60_000, interval: 10 });
    await client.close();

    await vi.waitFor(() => expect(outcome('bp-abandoned-mix')).toBeDefined(), { timeout: 60_000, interval: 20 });
    expect(outcome('bp-abandoned-mix')).toMatch(/failed: AUDIO_ABORTED .*ffmpeg was stopped/);
    await vi.waitFor(() => expect(gate.running).toBe(0), { timeout: 30_000, interval: 20 });
    expect(await liveFfmpegChildren()).toEqual([]);
    expect(await previewWorkdirs()).toEqual([]);
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
    const client = await connectMcp(server.url, { Authorization: `Bearer ${token}` });
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toContain('validate_blueprint');
    await client.close();
    expect(await new MusicToolsClient({ baseUrl: server.url, authToken: token }).validateBlueprint(VALID_BLUEPRINT)).toEqual({ ok: true, errors: [] });
  });
});
