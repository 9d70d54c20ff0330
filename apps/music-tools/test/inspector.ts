import { execFile } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './process';

/** The official MCP inspector's command-line client, as installed with the repository. */
export const INSPECTOR = path.join(repoRoot, 'node_modules/.bin/mcp-inspector');

export interface Inspection {
  code: number;
  /** The JSON the CLI printed on stdout (`--format json`), when it printed any. */
  output?: { result: Record<string, unknown> };
  /** The error envelope the CLI printed on stderr, when it failed. */
  failure?: { error: { code: string; message: string } };
}

export interface ToolResult {
  content: { type: string; text?: string; data?: string; mimeType?: string }[];
  structuredContent: Record<string, unknown>;
  isError?: boolean;
}

/**
 * Runs `mcp-inspector --cli <url> --transport http` (no shell) and reads what it printed; with a
 * token, as `Authorization: Bearer`. Its own home, secrets in memory only and never an interactive
 * login: nothing is read or written outside `home`.
 */
export async function inspect(url: string, args: string[], options: { home: string; token?: string; timeoutMs?: number }): Promise<Inspection> {
  const { home } = options;
  const auth = options.token === undefined ? [] : ['--header', `Authorization: Bearer ${options.token}`];
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: home,
    MCP_STORAGE_DIR: path.join(home, 'storage'),
    MCP_CATALOG_PATH: path.join(home, 'mcp.json'),
    MCP_CLIENT_CONFIG_PATH: path.join(home, 'client.json'),
    MCP_INSPECTOR_OAUTH_STATE_PATH: path.join(home, 'oauth.json'),
    MCP_INSPECTOR_SECRET_STORE: 'memory',
    MCP_AUTO_OPEN_ENABLED: 'false',
    NO_COLOR: '1',
  };
  const argv = ['--cli', url, '--transport', 'http', ...auth, '--format', 'json', '--stored-auth-only', '--connect-timeout', '10000', ...args];
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(INSPECTOR, argv, { env, timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
  const envelope = stderr.split('\n').find((line) => line.startsWith('{"error"'));
  return {
    code,
    output: stdout.trim() ? (JSON.parse(stdout) as Inspection['output']) : undefined,
    failure: envelope ? (JSON.parse(envelope) as Inspection['failure']) : undefined,
  };
}

export const toolResultOf = (inspection: Inspection) => inspection.output?.result as unknown as ToolResult;
