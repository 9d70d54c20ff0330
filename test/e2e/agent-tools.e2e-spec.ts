import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffmpegInput, probeAudio, runFfmpeg } from '@mcm/audio';
import { BLUEPRINT_SCHEMA, blueprintDurationSeconds, type Blueprint } from '@mcm/pipeline';
import { inspect, toolResultOf, type Inspection } from '../../apps/music-tools/test/inspector';
import { startStack, type Stack } from '../../scripts/stack';
import { createTestEnv, type TestEnv } from '../support/test-env';

const FIXTURES = resolve(__dirname, '../fixtures');
const MCP_TOKEN = 'e2e-agent-mcp-token-0123456789';
const API_KEY = 'e2e-agent-client-key-0123456789';

/**
 * An agent making a theme song from start to finish through music-tools alone, as the official MCP
 * inspector's CLI drives it: the whole stack as separate processes, the api behind API_KEYS, and
 * music-tools calling it with the key `npm start` hands it.
 */
describe('the agent tools, end to end through the MCP inspector', () => {
  let testEnv: TestEnv;
  let stack: Stack;
  let workdir: string;
  let clip: Buffer;
  const logs: string[] = [];

  const run = (args: string[]): Promise<Inspection> => inspect(`${stack.mcpUrl}/mcp`, args, { home: workdir, token: MCP_TOKEN, timeoutMs: 90_000 });
  const callTool = (name: string, args: Record<string, unknown>) => run(['--method', 'tools/call', '--tool-name', name, '--tool-args-json', JSON.stringify(args)]);

  beforeAll(async () => {
    testEnv = await createTestEnv({ MCP_AUTH_TOKEN: MCP_TOKEN, API_KEYS: API_KEY });
    stack = await startStack({ env: testEnv.env, workers: 1, log: (app, line) => logs.push(`[${app}] ${line}`) });
    workdir = await mkdtemp(join(tmpdir(), 'mcm-agent-e2e-'));
    // The first 9 s of the phone take: its base64 must fit one command-line argument (128 kB on Linux).
    const clipPath = join(workdir, 'clip.m4a');
    await runFfmpeg([...ffmpegInput(join(FIXTURES, 'hum-phone.m4a'), 'mov'), '-t', '9', '-c', 'copy', '-f', 'ipod', clipPath]);
    clip = await readFile(clipPath);
  });

  afterAll(async () => {
    await stack?.stop();
    await testEnv?.cleanup();
    if (workdir) await rm(workdir, { recursive: true, force: true });
  });

  it('lists the agent tools beside the blueprint tools', async () => {
    const listed = await run(['--method', 'tools/list']);
    expect(listed.code).toBe(0);
    const names = (listed.output!.result.tools as { name: string }[]).map((tool) => tool.name);
    expect(names).toEqual(expect.arrayContaining(['create_moment', 'get_moment', 'wait_for_moment', 'list_styles', 'validate_blueprint', 'synthesize_preview']));
  });

  it('publishes the blueprint JSON Schema as a resource', async () => {
    const read = await run(['--method', 'resources/read', '--uri', 'blueprint://schema']);
    expect(read.code).toBe(0);
    const [contents] = read.output!.result.contents as { uri: string; mimeType: string; text: string }[];
    expect(contents.mimeType).toBe('application/schema+json');
    expect(JSON.parse(contents.text)).toEqual(BLUEPRINT_SCHEMA);
  });

  it('creates a moment from base64 audio, waits for it, and receives the preview as MP3 audio of the blueprint length', async () => {
    expect(clip.toString('base64').length).toBeLessThan(128 * 1024);
    const created = await callTool('create_moment', { audio_base64: clip.toString('base64'), filename: 'hum.m4a', style: 'synthwave', title: 'Night drive' });
    expect(created.code, logs.slice(-20).join('\n')).toBe(0);
    const moment = toolResultOf(created).structuredContent as { id: string; status: string; style: string };
    expect(moment.style).toBe('synthwave');
    // Read right after the create, the moment may already be under way.
    expect(['PENDING', 'ANALYZING']).toContain(moment.status);

    // The inspector gives up on a call after 60 s, so the agent waits in turns, as the tool invites.
    let waited: Inspection | undefined;
    for (let turn = 0; turn < 6; turn++) {
      waited = await callTool('wait_for_moment', { id: moment.id, timeout_s: 45 });
      expect(waited.code, JSON.stringify(waited.failure ?? toolResultOf(waited)?.content)).toBe(0);
      if (!toolResultOf(waited).structuredContent.timed_out) break;
    }
    const result = toolResultOf(waited!);
    expect(result.structuredContent).toMatchObject({ ok: true, status: 'COMPLETED', progress: 1 });
    const links = result.structuredContent.links as Record<string, string | null>;
    expect(links.preview).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/.+preview\.mp3\?.*X-Amz-Signature=/);

    const audio = result.content.find((part) => part.type === 'audio')!;
    expect(audio.mimeType).toBe('audio/mpeg');
    const mp3 = Buffer.from(audio.data!, 'base64');
    const file = join(workdir, 'preview.mp3');
    await writeFile(file, mp3);
    const { duration_s } = await probeAudio(file, { format: 'mp3' });

    // The blueprint the api composed, read as any client of the api would.
    const response = await fetch(`${stack.apiUrl}/v1/moments/${moment.id}`, { headers: { 'X-Api-Key': API_KEY } });
    const blueprint = ((await response.json()) as { blueprint_json: Blueprint }).blueprint_json;
    expect(Math.abs(duration_s - blueprintDurationSeconds(blueprint))).toBeLessThan(0.3);
    // The same bytes the presigned link serves.
    const linked = Buffer.from(await (await fetch(links.preview!)).arrayBuffer());
    expect(linked.equals(mp3)).toBe(true);
  });

  it("answers an unknown moment with the api's code, as a tool error", async () => {
    const missing = await callTool('get_moment', { id: '00000000-0000-4000-8000-000000000000' });
    expect(missing.code).toBe(5);
    expect(toolResultOf(missing)).toMatchObject({ isError: true, structuredContent: { ok: false, code: 'MOMENT_NOT_FOUND' } });
  });
});
