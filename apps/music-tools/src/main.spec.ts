import { execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VALID_BLUEPRINT } from '../test/fixtures';
import { compileMusicTools, refusedStart, serverEnv, startServer, type CompiledMusicTools } from '../test/process';

let compiled: CompiledMusicTools;
let mainJs: string;

/**
 * Whether anything answers HTTP on 127.0.0.2: a loopback address too, but a server bound to
 * 127.0.0.1 alone does not listen there, while one bound to 0.0.0.0 does.
 */
async function answersOnOtherAddress(port: number): Promise<boolean> {
  return fetch(`http://127.0.0.2:${port}/healthz`).then(
    () => true,
    () => false,
  );
}

const MCP_LIST_TOOLS = {
  method: 'POST',
  headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
  body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
};

beforeAll(async () => {
  compiled = await compileMusicTools('music-tools-main-spec');
  mainJs = compiled.mainJs;
}, 60_000);

afterAll(async () => {
  await compiled?.remove();
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
    expect(tools.map((tool) => tool.name).sort()).toEqual(['blueprint_duration', 'create_moment', 'get_moment', 'list_styles', 'synthesize_preview', 'validate_blueprint', 'wait_for_moment']);
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
  let boundAddress: string;

  beforeAll(async () => {
    ({ child, url, boundAddress } = await startServer(mainJs, serverEnv()));
  }, 30_000);

  afterAll(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('listens on 127.0.0.1 only by default', async () => {
    expect(boundAddress).toBe('127.0.0.1');
    const { port } = new URL(url);
    expect((await fetch(new URL('/healthz', url))).status).toBe(200);
    expect(await answersOnOtherAddress(Number(port))).toBe(false);
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
    const failed = await promisify(execFile)(process.execPath, [mainJs], { env: serverEnv({ MCP_HTTP_PORT: 'eighty' }) }).catch((error: { code: number; stderr: string }) => error);
    expect(failed).toMatchObject({ code: 1 });
    expect((failed as { stderr: string }).stderr.trim().split('\n')).toHaveLength(1);
    expect((failed as { stderr: string }).stderr).toContain('MCP_HTTP_PORT');
  });
});

describe('music-tools configuration', () => {
  it('starts and lists its tools whatever the settings of the database, Redis and the api say, for it reads none of them', async () => {
    const env = serverEnv({ DATABASE_URL: 'not a url', REDIS_URL: 'http://127.0.0.1:6379', API_KEYS: 'short', ADMIN_TOKEN: 'short', PORT: 'eighty', WORKER_LOCK_MS: '5' });
    const { child, url } = await startServer(mainJs, env);
    try {
      const listed = await fetch(url, MCP_LIST_TOOLS);
      expect(listed.status).toBe(200);
      expect(await listed.text()).toContain('validate_blueprint');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('music-tools on a non-loopback address', () => {
  const TOKEN = 'bind-spec-token-0123456789';

  it('refuses to start without MCP_AUTH_TOKEN, in one line', async () => {
    const failed = await refusedStart(mainJs, serverEnv({ MCP_HOST: '0.0.0.0' }));
    expect(failed.code).toBe(1);
    expect(failed.stderr.trim().split('\n')).toHaveLength(1);
    expect(failed.stderr).toContain('MCP_AUTH_TOKEN');
    expect(failed.stderr).toContain('0.0.0.0');
  });

  it('refuses a token shorter than 16 characters, in one line that does not echo it', async () => {
    const failed = await refusedStart(mainJs, serverEnv({ MCP_HOST: '0.0.0.0', MCP_AUTH_TOKEN: 'short-token-15c' }));
    expect(failed.code).toBe(1);
    expect(failed.stderr.trim().split('\n')).toHaveLength(1);
    expect(failed.stderr).toContain('MCP_AUTH_TOKEN');
    expect(failed.stderr).not.toContain('short-token-15c');
  });

  describe('with a token', () => {
    let child: ChildProcess;
    let url: string;
    let boundAddress: string;

    beforeAll(async () => {
      ({ child, url, boundAddress } = await startServer(mainJs, serverEnv({ MCP_HOST: '0.0.0.0', MCP_AUTH_TOKEN: TOKEN })));
    }, 30_000);

    afterAll(() => {
      if (child?.exitCode === null) child.kill('SIGKILL');
    });

    it('serves every address, and /mcp only with the bearer token', async () => {
      expect(boundAddress).toBe('0.0.0.0');
      const { port } = new URL(url);
      expect(await answersOnOtherAddress(Number(port))).toBe(true);

      const anonymous = await fetch(url, MCP_LIST_TOOLS);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toContain('Bearer');
      const wrong = await fetch(url, { ...MCP_LIST_TOOLS, headers: { ...MCP_LIST_TOOLS.headers, Authorization: `Bearer ${TOKEN}x` } });
      expect(wrong.status).toBe(401);

      const allowed = await fetch(url, { ...MCP_LIST_TOOLS, headers: { ...MCP_LIST_TOOLS.headers, Authorization: `Bearer ${TOKEN}` } });
      expect(allowed.status).toBe(200);
      expect(await allowed.text()).toContain('synthesize_preview');
    });
  });
});
