import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeAudio } from '@mcm/audio/io/probe';
import { measureLoudness } from '@mcm/audio/mix/loudness';
import { BLUEPRINT_SCHEMA } from '@mcm/pipeline';
import { looksLikeMp3, VALID_BLUEPRINT } from '../test/fixtures';
import { inspect as runInspector, toolResultOf, type Inspection } from '../test/inspector';
import { compileMusicTools, serverEnv, startServer, type CompiledMusicTools } from '../test/process';

/*
 * music-tools as the official MCP inspector's CLI sees it: a client we did not write, run as
 * the generic clients (and the agents that script it) run it, against the deployed process.
 */

const TOKEN = 'inspector-spec-token-0123456789';

/** Forwards to music-tools and keeps every JSON-RPC request, to see what the inspector puts on the wire. */
async function startRecorder(target: string): Promise<{ url: string; requests: { method: string; params?: Record<string, unknown> }[]; server: Server }> {
  const requests: { method: string; params?: Record<string, unknown> }[] = [];
  const server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const body = Buffer.concat(chunks);
      if (body.length > 0) requests.push(JSON.parse(body.toString('utf8')));
      const upstream = httpRequest(new URL(incoming.url!, target), { method: incoming.method, headers: incoming.headers }, (answer) => {
        outgoing.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(outgoing);
      });
      upstream.on('error', () => outgoing.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, requests, server };
}

describe('music-tools driven by the MCP inspector CLI', () => {
  let compiled: CompiledMusicTools;
  let server: ChildProcess;
  let url: string;
  let recorder: Awaited<ReturnType<typeof startRecorder>>;
  let inspectorHome: string;

  /** The inspector against music-tools (or `target`); with `token: null`, no Authorization header. */
  const inspect = (args: string[], options: { token?: string | null; target?: string } = {}): Promise<Inspection> =>
    runInspector(options.target ?? url, args, { home: inspectorHome, token: options.token === null ? undefined : (options.token ?? TOKEN) });

  const callTool = (name: string, args: string[], options?: { target?: string }) => inspect(['--method', 'tools/call', '--tool-name', name, ...args], options);
  const resultOf = toolResultOf;

  beforeAll(async () => {
    compiled = await compileMusicTools('music-tools-inspector-spec');
    // Deployed as music-tools alone is: a token, and no database setting, which it does not use.
    const env = serverEnv({ MCP_AUTH_TOKEN: TOKEN });
    delete env.DATABASE_URL;
    ({ child: server, url } = await startServer(compiled.mainJs, env));
    recorder = await startRecorder(url);
    inspectorHome = await mkdtemp(path.join(tmpdir(), 'inspector-spec-'));
  }, 60_000);

  afterAll(async () => {
    if (server?.exitCode === null) server.kill('SIGKILL');
    await new Promise((resolve) => recorder?.server.close(resolve));
    await compiled?.remove();
    if (inspectorHome) await rm(inspectorHome, { recursive: true, force: true });
  });

  it('lists every tool, with the blueprint JSON Schema as the blueprint argument and nothing its portability check calls an error', async () => {
    const listed = await inspect(['--method', 'tools/list', '--strict']);
    expect(listed.code).toBe(0);
    const tools = listed.output!.result.tools as { name: string; inputSchema: { properties: Record<string, Record<string, unknown>>; required?: string[] } }[];
    expect(tools.map((tool) => tool.name).sort()).toEqual(['blueprint_duration', 'create_moment', 'get_moment', 'list_styles', 'synthesize_preview', 'validate_blueprint', 'wait_for_moment']);
    for (const name of ['validate_blueprint', 'synthesize_preview']) {
      const blueprint = tools.find((tool) => tool.name === name)!.inputSchema.properties.blueprint;
      expect({ name, type: blueprint.type, additionalProperties: blueprint.additionalProperties, required: blueprint.required }).toEqual({
        name,
        type: 'object',
        additionalProperties: false,
        required: BLUEPRINT_SCHEMA.required,
      });
      expect(Object.keys(blueprint.properties as object)).toEqual(Object.keys(BLUEPRINT_SCHEMA.properties));
      expect((blueprint.properties as Record<string, unknown>).tempo_bpm).toEqual(BLUEPRINT_SCHEMA.properties.tempo_bpm);
    }
  });

  it('validates a blueprint given as --tool-arg blueprint=<json>, which the inspector sends as an object', async () => {
    const before = recorder.requests.length;
    const valid = await callTool('validate_blueprint', ['--tool-arg', `blueprint=${JSON.stringify(VALID_BLUEPRINT)}`], { target: recorder.url });
    expect(valid.code).toBe(0);
    expect(resultOf(valid).isError).toBeFalsy();
    expect(resultOf(valid).structuredContent).toEqual({ ok: true, errors: [] });
    const sent = recorder.requests.slice(before).find((request) => request.method === 'tools/call')!;
    expect(sent.params).toMatchObject({ name: 'validate_blueprint', arguments: { blueprint: VALID_BLUEPRINT } });
  });

  it('validates a blueprint given as JSON text, which the inspector reads by the published schema and sends as an object', async () => {
    const before = recorder.requests.length;
    const valid = await callTool('validate_blueprint', ['--tool-args-json', JSON.stringify({ blueprint: JSON.stringify(VALID_BLUEPRINT) })], { target: recorder.url });
    expect(valid.code).toBe(0);
    expect(resultOf(valid).structuredContent).toEqual({ ok: true, errors: [] });
    const sent = recorder.requests.slice(before).find((request) => request.method === 'tools/call')!;
    expect(sent.params!.arguments).toEqual({ blueprint: VALID_BLUEPRINT });
  });

  it('answers text that is no JSON, which reaches it as a string, with the blueprint error', async () => {
    const before = recorder.requests.length;
    const garbled = await callTool('validate_blueprint', ['--tool-arg', 'blueprint={not json'], { target: recorder.url });
    const sent = recorder.requests.slice(before).find((request) => request.method === 'tools/call')!;
    expect(sent.params!.arguments).toEqual({ blueprint: '{not json' });
    expect(garbled.code).toBe(5);
    expect(resultOf(garbled)).toMatchObject({ isError: true, structuredContent: { ok: false, errors: [{ path: '/', message: 'must be object' }] } });
  });

  it('answers an invalid blueprint with the structured error naming its JSON path, and the inspector exits as for a tool error', async () => {
    const invalid = await callTool('validate_blueprint', ['--tool-arg', `blueprint=${JSON.stringify({ ...VALID_BLUEPRINT, tempo_bpm: 12 })}`]);
    expect(invalid.code).toBe(5);
    expect(invalid.failure?.error.code).toBe('tool_is_error');
    expect(resultOf(invalid).isError).toBe(true);
    expect(resultOf(invalid).structuredContent).toEqual({ ok: false, errors: [{ path: '/tempo_bpm', message: 'must be >= 40' }] });
  });

  it('is refused without the bearer token, or with another one', async () => {
    for (const token of [null, `${TOKEN}x`]) {
      const refused = await inspect(['--method', 'tools/list'], { token });
      expect(refused.code).toBe(3);
      expect(refused.output).toBeUndefined();
      expect(refused.failure?.error.code).toBe('auth_required');
      expect(refused.failure?.error.message).toContain('Unauthorized: a valid bearer token is required');
    }
  });

  it('renders a preview it returns as MP3 audio content of the blueprint length at -14 LUFS', async () => {
    const rendered = await callTool('synthesize_preview', ['--tool-arg', `blueprint=${JSON.stringify(VALID_BLUEPRINT)}`]);
    expect(rendered.code).toBe(0);
    const result = resultOf(rendered);
    const audio = result.content.find((part) => part.type === 'audio')!;
    expect(audio.mimeType).toBe('audio/mpeg');
    const mp3 = Buffer.from(audio.data!, 'base64');
    expect(looksLikeMp3(mp3)).toBe(true);
    expect(result.structuredContent).toMatchObject({ ok: true, uploaded: false, bytes: mp3.length });

    const file = path.join(inspectorHome, 'preview.mp3');
    await writeFile(file, mp3);
    const { duration_s } = await probeAudio(file, { format: 'mp3' });
    // 4 bars of 4/4 at 120 bpm; MP3 framing adds a few milliseconds.
    expect(duration_s).toBeGreaterThan(7.9);
    expect(duration_s).toBeLessThan(8.2);
    const loudness = await measureLoudness(file, 'mp3');
    expect(Math.abs(loudness.integrated_lufs + 14)).toBeLessThanOrEqual(1);
    expect(loudness.true_peak_dbtp).toBeLessThanOrEqual(-0.9);
  }, 60_000);
});
