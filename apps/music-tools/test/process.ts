import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

export const repoRoot = path.resolve(__dirname, '../../..');

/** music-tools compiled on its own, for specs that run it as a deployed process. */
export interface CompiledMusicTools {
  mainJs: string;
  remove(): Promise<void>;
}

/** Compiles privately rather than into dist/, which `npm run build` deletes and other suites may be using. */
export async function compileMusicTools(name: string): Promise<CompiledMusicTools> {
  const outDir = path.join(repoRoot, 'node_modules/.cache', `${name}-${process.pid}`);
  const swc = path.join(repoRoot, 'node_modules/.bin/swc');
  const sources = ['apps/music-tools/src', 'libs/pipeline/src', 'libs/audio/src', 'libs/core/src'];
  await promisify(execFile)(swc, [...sources, '-d', outDir, '--config-file', '.swcrc', '--copy-files', '--ignore', '**/*.spec.ts', '-q'], { cwd: repoRoot });
  // The SDK the agent tools use, from its source too, found before the workspace link (whose dist only a build makes).
  const sdk = path.join(outDir, 'node_modules/@main-character/sdk');
  await promisify(execFile)(swc, ['libs/sdk/src', '-d', sdk, '--config-file', '.swcrc', '-q'], { cwd: repoRoot });
  await mkdir(sdk, { recursive: true });
  await writeFile(path.join(sdk, 'package.json'), JSON.stringify({ name: '@main-character/sdk', main: 'libs/sdk/src/index.js' }));
  // Its own dependencies (eventsource) at the versions it declares.
  await symlink(path.join(repoRoot, 'libs/sdk/node_modules'), path.join(sdk, 'node_modules'), 'dir');
  return { mainJs: path.join(outDir, 'apps/music-tools/src/main.js'), remove: () => rm(outDir, { recursive: true, force: true }) };
}

/** The environment of a deployed process: no token, no inherited port or address. */
export function serverEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined));
  delete env.MCP_AUTH_TOKEN;
  delete env.MCP_HOST;
  delete env.HOST;
  return { ...env, MCP_HTTP_PORT: '0', ...extra };
}

/** Starts music-tools over HTTP and waits for the line that names its endpoint and bound address. */
export async function startServer(mainJs: string, env: Record<string, string>): Promise<{ child: ChildProcess; url: string; boundAddress: string }> {
  const child = spawn(process.execPath, [mainJs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = createInterface({ input: child.stdout });
  const stderr: string[] = [];
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const [url, boundAddress] = await new Promise<[string, string]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('music-tools did not report listening within 20 s')), 20_000);
    child.once('exit', (code) => reject(new Error(`music-tools exited with ${code}: ${stderr.join('').trim()}`)));
    lines.on('line', (line) => {
      const match = /^music-tools listening on (http:\/\/\S+\/mcp) \(bound to (\S+)\)$/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve([match[1], match[2]]);
      }
    });
  });
  return { child, url, boundAddress };
}

/** Runs music-tools to its exit; for configurations it must refuse. */
export async function refusedStart(mainJs: string, env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return promisify(execFile)(process.execPath, [mainJs], { env, timeout: 20_000 }).then(
    () => ({ code: 0, stderr: '' }),
    (error: { code: number; stderr: string }) => error,
  );
}
