import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VALID_BLUEPRINT } from '../test/fixtures';

const repoRoot = path.resolve(__dirname, '../../..');
// Compiled privately rather than into dist/, which `npm run build` deletes and other suites may be using.
const outDir = path.join(repoRoot, 'node_modules/.cache', `music-tools-main-spec-${process.pid}`);
const mainJs = path.join(outDir, 'apps/music-tools/src/main.js');

/** The environment of a deployed process: no token, no inherited port. */
function serverEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined));
  delete env.MCP_AUTH_TOKEN;
  return { ...env, MCP_HTTP_PORT: '0', ...extra };
}

beforeAll(async () => {
  const swc = path.join(repoRoot, 'node_modules/.bin/swc');
  const sources = ['apps/music-tools/src', 'libs/pipeline/src', 'libs/audio/src', 'libs/core/src'];
  await promisify(execFile)(swc, [...sources, '-d', outDir, '--config-file', '.swcrc', '--copy-files', '--ignore', '**/*.spec.ts', '-q'], { cwd: repoRoot });
}, 60_000);

afterAll(async () => {
  await rm(outDir, { recursive: true, force: true });
});

describe('music-tools --stdio', () => {
  let client: Client;
  const stderr: string[] = [];

  beforeAll(async () => {
    const transport = new StdioClientTransport({ command: process.execPath, args: [mainJs, '--stdio'], env: serverEnv(), stderr: 'pipe' });
    transport.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    client = new Client({ name: 'music-tools-stdio-spec', version: '1.0.0' });
    await client.connect(transport);
  }, 30_000);

  afterAll(async () => {
    await client?.close();
  });

  it('speaks MCP on stdout and logs only to stderr', async () => {
    expect(client.getServerVersion()?.name).toBe('music-tools');
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(['blueprint_duration', 'synthesize_preview', 'validate_blueprint']);
    expect(stderr.join('')).toContain('music-tools serving MCP on stdio');
  });

  it('validates blueprints', async () => {
    const result = (await client.callTool({ name: 'validate_blueprint', arguments: { blueprint: { ...VALID_BLUEPRINT, tempo_bpm: 12 } } })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toEqual({ ok: false, errors: [{ path: '/tempo_bpm', message: 'must be >= 40' }] });
  });
});

describe('music-tools over HTTP as a process', () => {
  let child: ChildProcess;
  let url: string;

  beforeAll(async () => {
    child = spawn(process.execPath, [mainJs], { env: serverEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = createInterface({ input: child.stdout! });
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('music-tools did not report listening within 20 s')), 20_000);
      child.once('exit', (code) => reject(new Error(`music-tools exited with ${code}`)));
      lines.on('line', (line) => {
        const match = /^music-tools listening on (http:\/\/\S+\/mcp)$/.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
    });
  }, 30_000);

  afterAll(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('announces its bound port, serves /healthz and stops cleanly on SIGTERM', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    expect(url).not.toMatch(/:0\/mcp$/);
    const health = await fetch(new URL('/healthz', url));
    expect(await health.json()).toEqual({ status: 'ok' });

    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('refuses to start with an invalid port, in one line', async () => {
    const failed = await promisify(execFile)(process.execPath, [mainJs], { env: serverEnv({ MCP_HTTP_PORT: 'eighty' }) }).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed).toMatchObject({ code: 1 });
    expect((failed as { stderr: string }).stderr.trim().split('\n')).toHaveLength(1);
    expect((failed as { stderr: string }).stderr).toContain('MCP_HTTP_PORT');
  });
});
