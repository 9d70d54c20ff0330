import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { setPriority } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { appEnvironment, loadConfig } from '@mcm/core/config/app-config';
import { migrate } from '@mcm/core/database/database';
import { startEmbeddedStorage, type EmbeddedStorage } from '@mcm/core/storage/embedded-storage';

/**
 * Runs the whole stack on one machine: embedded storage (when no S3 endpoint is configured),
 * music-tools (when no MCP_BASE_URL is configured), the api and the workers, each app in its
 * own process, exactly as they are deployed.
 */
export interface StackOptions {
  env?: NodeJS.ProcessEnv;
  /** Worker processes to run; each serves every stage unless WORKER_STAGES says otherwise. */
  workers?: number;
  /**
   * Where each process's output goes; defaults to this process's stdout, prefixed with its name.
   * Apps log JSON lines on stderr; their stdout carries only the line that says they are ready.
   */
  log?: (app: string, line: string, stream: 'stdout' | 'stderr') => void;
  /**
   * Nice value of the worker processes (and the ffmpeg they run), 0 by default. `npm start` and the demo run
   * them at WORKER_NICE (10): on one machine the api answers first and the renders take the CPU it leaves, so
   * the api is ready while the workers still warm their soundfont, and stays quick while they render.
   */
  workerNice?: number;
}

export interface RunningApp {
  name: string;
  kind: AppKind;
  env: NodeJS.ProcessEnv;
  child: ChildProcess;
  /** The line the app prints once it serves. */
  readyLine: string;
}

export interface Stack {
  apiUrl: string;
  mcpUrl: string;
  s3Endpoint: string;
  env: NodeJS.ProcessEnv;
  apps: RunningApp[];
  /** Starts one more worker process against the same stack. */
  addWorker(extraEnv?: NodeJS.ProcessEnv): Promise<RunningApp>;
  /** Starts a stopped (or killed) app again with the same settings. */
  restart(name: string): Promise<RunningApp>;
  stop(): Promise<void>;
}

/** The repository root, whether this runs compiled from dist/ or as source under the test runner. */
function findRoot(from: string): string {
  let dir = from;
  while (!existsSync(join(dir, 'nest-cli.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

export const ROOT = findRoot(__dirname);
const ENTRY = {
  api: join(ROOT, 'dist/apps/api/src/main.js'),
  worker: join(ROOT, 'dist/apps/worker/src/main.js'),
  'music-tools': join(ROOT, 'dist/apps/music-tools/src/main.js'),
};

export type AppKind = keyof typeof ENTRY;

const READY: Record<AppKind, RegExp> = {
  api: /api listening on (\S+)/,
  worker: /worker ready/,
  'music-tools': /music-tools listening on (\S+)/,
};

/** A JSON log line as `10:04:05 WARN  StageRunner: message`, for people watching `npm start`; other lines stay as they are. */
export function formatLogLine(line: string): string {
  if (!line.startsWith('{')) return line;
  try {
    const record = JSON.parse(line) as { time?: unknown; level?: unknown; context?: unknown; msg?: unknown; err?: { message?: unknown } };
    const time = typeof record.time === 'string' ? record.time.slice(11, 19) : '';
    const level = typeof record.level === 'string' ? record.level.toUpperCase() : '';
    const context = typeof record.context === 'string' ? `${record.context}: ` : '';
    const message = typeof record.msg === 'string' ? record.msg : '';
    const error = typeof record.err?.message === 'string' ? ` (${record.err.message})` : '';
    return `${time} ${level.padEnd(5)} ${context}${message}${error}`;
  } catch {
    return line;
  }
}

function defaultLog(app: string, line: string): void {
  process.stdout.write(`[${app}] ${formatLogLine(line)}\n`);
}

/** The kernel's range for the local ports of outgoing connections and of `listen(0)`; Linux's default where it cannot be read. */
function ephemeralPorts(): { low: number; high: number } {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low > 0 && high >= low) return { low, high };
  } catch {
    // Not Linux: its default range is as good a guess as any.
  }
  return { low: 32_768, high: 60_999 };
}

/** Whether `port` can be bound on `host` right now. */
async function isFree(host: string, port: number): Promise<boolean> {
  const server = createServer();
  const bound = await new Promise<boolean>((resolvePromise) => {
    server.once('error', () => resolvePromise(false));
    server.listen(port, host, () => resolvePromise(true));
  });
  if (bound) await new Promise((resolvePromise) => server.close(resolvePromise));
  return bound;
}

/**
 * A port free right now for an app that binds it a moment later, so music-tools can be told where the api will
 * listen before the api starts. Picked under the kernel's ephemeral range: a port `listen(0)` hands out lies inside
 * it, where any outgoing connection (to Postgres, Redis, storage) may take it before the app binds it; under the
 * range only another listener can, and the draw is random.
 */
export async function unusedPort(host: string): Promise<number> {
  const floor = 10_000;
  const { low } = ephemeralPorts();
  for (let attempt = 0; attempt < 20 && low - floor >= 1_000; attempt++) {
    const port = floor + Math.floor(Math.random() * (low - floor));
    if (await isFree(host, port)) return port;
  }
  const server = createServer().listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * Where music-tools' agent tools reach the api of this stack, and with which key: music-tools starts
 * first (the workers need its address), so an api on port 0 gets its port chosen here.
 */
async function agentToolsApi(env: NodeJS.ProcessEnv, config: { HOST: string; PORT: number; API_KEYS?: string[] }): Promise<void> {
  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST;
  if (!env.MCM_API_URL) {
    if (config.PORT === 0) env.PORT = String(await unusedPort(host));
    env.MCM_API_URL = `http://${host.includes(':') ? `[${host}]` : host}:${env.PORT ?? config.PORT}`;
  }
  // The api only serves clients with a key of API_KEYS; music-tools is one such client.
  if (!env.MCM_API_KEY && config.API_KEYS?.length) env.MCM_API_KEY = config.API_KEYS[0];
}

/** Where the stack's own music-tools will listen, fixed before it starts so the workers and the api can be told at once. */
async function musicToolsUrl(env: NodeJS.ProcessEnv, config: { MCP_HOST: string; MCP_HTTP_PORT: number }): Promise<string> {
  const host = config.MCP_HOST === '0.0.0.0' || config.MCP_HOST === '::' ? '127.0.0.1' : config.MCP_HOST;
  if (config.MCP_HTTP_PORT === 0) env.MCP_HTTP_PORT = String(await unusedPort(host));
  return `http://${host.includes(':') ? `[${host}]` : host}:${env.MCP_HTTP_PORT ?? config.MCP_HTTP_PORT}`;
}

/** WORKER_NICE for the launchers (`npm start`, the demo): a nice value from 0 to 19, 10 when unset. */
export function launcherWorkerNice(env: NodeJS.ProcessEnv = process.env): number {
  const nice = Number(env.WORKER_NICE ?? 10);
  if (!Number.isInteger(nice) || nice < 0 || nice > 19) throw new Error(`WORKER_NICE must be a whole number from 0 to 19, not "${env.WORKER_NICE}"`);
  return nice;
}

/** Starts one app as its own process and resolves once it prints its ready line. */
export async function startApp(kind: AppKind, name: string, env: NodeJS.ProcessEnv, log: StackOptions['log'] = defaultLog, nice = 0): Promise<RunningApp> {
  const child = spawn(process.execPath, [ENTRY[kind]], { env: appEnvironment(kind, env), stdio: ['ignore', 'pipe', 'pipe'] });
  if (nice && child.pid) {
    try {
      setPriority(child.pid, nice);
    } catch (error) {
      log(name, `runs at the normal priority: ${(error as Error).message}`, 'stderr');
    }
  }
  const lines = (stream: NodeJS.ReadableStream) => createInterface({ input: stream });
  let readyLine = '';
  // What the app said last: an app that stops before it is ready says why there.
  const last: string[] = [];
  const remember = (line: string) => {
    last.push(line.length > 500 ? `${line.slice(0, 500)}…` : line);
    if (last.length > 5) last.shift();
  };
  const ready = new Promise<string>((resolvePromise, reject) => {
    const onLine = (line: string) => {
      log(name, line, 'stdout');
      remember(line);
      if (!readyLine && READY[kind].test(line)) {
        readyLine = line;
        resolvePromise(line);
      }
    };
    lines(child.stdout).on('line', onLine);
    lines(child.stderr).on('line', (line) => {
      log(name, line, 'stderr');
      remember(line);
    });
    // The exit can come before the last lines are read: they are given a moment.
    child.once('exit', (code, signal) =>
      setTimeout(() => reject(new Error(`${name} exited before it was ready (code ${code}, signal ${signal})${last.length ? `; its last lines:\n${last.join('\n')}` : ''}`)), 50),
    );
  });
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${name} was not ready within 120 s`)), 120_000).unref());
  await Promise.race([ready, timeout]).catch((error) => {
    child.kill('SIGKILL');
    throw error;
  });
  return { name, kind, env, child, readyLine };
}

export async function stopApp(app: RunningApp, graceMs = 15_000): Promise<void> {
  if (app.child.exitCode !== null || app.child.signalCode !== null) return;
  const exited = once(app.child, 'exit');
  app.child.kill('SIGTERM');
  const timer = setTimeout(() => app.child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const log = options.log ?? defaultLog;
  const env: NodeJS.ProcessEnv = { ...(options.env ?? process.env) };
  const config = loadConfig(env);
  const apps: RunningApp[] = [];
  let storage: EmbeddedStorage | undefined;

  const stop = async () => {
    // Entry points first, storage last, so in-flight work can still finish its uploads.
    const order = ['api', 'worker', 'music-tools'];
    for (const prefix of order) await Promise.all(apps.filter((app) => app.name.startsWith(prefix)).map((app) => stopApp(app)));
    await storage?.close();
  };

  try {
    // Storage (in process) and the migrations first, side by side: every app needs the storage's address.
    const [embedded] = await Promise.all([
      config.embeddedStorage
        ? startEmbeddedStorage({
            port: config.EMBEDDED_S3_PORT,
            directory: resolve(ROOT, config.EMBEDDED_S3_DIR),
            accessKeyId: config.S3_ACCESS_KEY_ID,
            secretAccessKey: config.S3_SECRET_ACCESS_KEY,
          })
        : undefined,
      migrate(config.DATABASE_URL),
    ]);
    storage = embedded;
    if (storage) {
      env.S3_ENDPOINT = storage.endpoint;
      env.S3_ACCESS_KEY_ID = config.S3_ACCESS_KEY_ID;
      env.S3_SECRET_ACCESS_KEY = config.S3_SECRET_ACCESS_KEY;
      env.S3_FORCE_PATH_STYLE = 'true';
      log('storage', `embedded S3-compatible storage at ${storage.endpoint}`, 'stdout');
    }

    // Every address is settled before any app starts, so music-tools, the workers and the api start at
    // once: the workers load the soundfont while the api and music-tools come up.
    const ownMusicTools = !env.MCP_BASE_URL;
    if (ownMusicTools) {
      await agentToolsApi(env, config);
      env.MCP_BASE_URL = await musicToolsUrl(env, config);
    }

    let workersStarted = 0;
    const addWorker = async (extraEnv: NodeJS.ProcessEnv = {}) => {
      workersStarted += 1;
      // Workers on one machine each need their own metrics port: the configured one, then the ports after it.
      const metricsPort = config.WORKER_METRICS_PORT === 0 ? 0 : config.WORKER_METRICS_PORT + workersStarted - 1;
      const worker = await startApp('worker', `worker-${workersStarted}`, { ...env, WORKER_METRICS_PORT: String(metricsPort), ...extraEnv }, log, options.workerNice);
      apps.push(worker);
      return worker;
    };
    const started = await Promise.allSettled([
      ...(ownMusicTools ? [startApp('music-tools', 'music-tools', env, log)] : []),
      ...Array.from({ length: options.workers ?? 1 }, () => addWorker()),
      startApp('api', 'api', env, log),
    ]);
    for (const result of started) if (result.status === 'fulfilled' && !apps.includes(result.value)) apps.push(result.value);
    const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) throw failed.reason as Error;
    const api = apps.find((app) => app.kind === 'api')!;
    const apiUrl = READY.api.exec(api.readyLine)![1];
    const musicTools = apps.find((app) => app.kind === 'music-tools');
    const mcpUrl = musicTools ? new URL(READY['music-tools'].exec(musicTools.readyLine)![1]).origin : config.MCP_BASE_URL;
    const restart = async (name: string) => {
      const index = apps.findIndex((app) => app.name === name);
      if (index < 0) throw new Error(`no app named ${name}`);
      const previous = apps[index];
      await stopApp(previous);
      const next = await startApp(previous.kind, name, previous.env, log, previous.kind === 'worker' ? options.workerNice : 0);
      apps[index] = next;
      return next;
    };
    return { apiUrl, mcpUrl, s3Endpoint: env.S3_ENDPOINT ?? config.S3_ENDPOINT, env, apps, addWorker, restart, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
