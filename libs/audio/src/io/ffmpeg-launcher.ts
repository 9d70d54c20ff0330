import { execFile, spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import { constants } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import { makeWorkDirectory } from './work-directory';

/** The descriptors a run may connect besides stderr: 0 (stdin), 1 (stdout) and 3 (a second output). */
export type LaunchDescriptor = 0 | 1 | 3;

export interface FfmpegExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** ffmpeg's descriptors on this side, each null when the run did not ask for it. */
export interface FfmpegPipes {
  stdin: Writable | null;
  stdout: Readable | null;
  side: Readable | null;
}

/** One ffmpeg run, however it was started. */
export interface LaunchedRun {
  /** Its pipes, once ffmpeg runs; rejects when it could not start. */
  pipes: Promise<FfmpegPipes>;
  /** Its exit, once its outputs have ended too; rejects when it could not start or its server stopped. */
  closed: Promise<FfmpegExit>;
  /** Kills ffmpeg (SIGKILL). */
  kill(): void;
}

interface Run {
  /** Every descriptor it connects, stderr (2) included. */
  descriptors: number[];
  connections: Map<number, net.Socket>;
  stderr: Buffer[];
  started: boolean;
  opened: boolean;
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  openPipes: (pipes: FfmpegPipes) => void;
  refuse: (error: Error) => void;
  close: (exit: FfmpegExit) => void;
  fail: (error: Error) => void;
}

/** The fork server's source, and where the build puts the library made from it. */
const SOURCE = path.join(__dirname, 'ffmpeg-forkserver.c');
const FORK_SERVER_LIBRARY = path.join(__dirname, 'ffmpeg-forkserver.so');
const READY_TIMEOUT_MS = 10_000;
const TITLE_ROOM = 4096;
const HEADER_LIMIT = 64;

/** Compiles the fork server (`ffmpeg-forkserver.c`) into a shared library with the system's C compiler. */
export async function buildForkServer(output: string = FORK_SERVER_LIBRARY, compiler = process.env.CC || 'cc'): Promise<void> {
  await promisify(execFile)(compiler, ['-O2', '-Wall', '-shared', '-fPIC', '-o', output, SOURCE, '-ldl']);
}

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, number]) => [number, name as NodeJS.Signals]));

/**
 * ffmpeg runs forked from one long-lived ffmpeg process that has loaded and bound its libraries once (the fork
 * server, `ffmpeg-forkserver.c`, preloaded into it), instead of each run starting ffmpeg afresh from this
 * process: a distribution's ffmpeg spends 50-90 ms of CPU binding its 200 libraries at each start, and a
 * start from a process of hundreds of MB forks all of it. A run's pipes are Unix socket connections the server
 * makes for it to a socket in a private directory of this process, so its data passes through nothing else.
 */
export class FfmpegLauncher {
  private readonly runs = new Map<number, Run>();
  private nextId = 0;
  private stopping = false;
  private releasing: Promise<void> | undefined;
  private reports = '';

  private constructor(
    private readonly directory: string,
    private readonly server: net.Server,
    private readonly child: ChildProcessByStdio<Writable, Readable, null>,
    private readonly onGone: () => void,
  ) {
    child.stdout.on('data', (chunk: Buffer) => this.read(chunk.toString('latin1')));
    child.on('exit', () => this.gone(new Error('the ffmpeg fork server stopped')));
    child.on('error', (error) => this.gone(error));
    // A write to a server that has just gone fails; its runs fail with it through 'exit'.
    child.stdin.on('error', () => undefined);
    server.on('connection', (socket) => this.accept(socket));
    // An app that exits without stopping the server still takes its socket's directory with it.
    process.once('exit', this.removeDirectory);
    this.idle();
  }

  private readonly removeDirectory = () => rmSync(this.directory, { recursive: true, force: true });

  /** Starts a fork server in `ffmpeg` with `library` preloaded; rejects when it does not come up. */
  static async open(ffmpeg: string, library: string, onGone: () => void = () => undefined): Promise<FfmpegLauncher> {
    const directory = await makeWorkDirectory('ffmpeg_launcher');
    const socketPath = path.join(directory, 'pipes.sock');
    const server = net.createServer();
    let child: ChildProcessByStdio<Writable, Readable, null> | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(socketPath, () => resolve());
      });
      server.unref();
      // The padding is room for each run to show its own arguments as its command line (ps, /proc/<pid>/cmdline).
      const started = spawn(ffmpeg, ['-hide_banner', ' '.repeat(TITLE_ROOM)], { env: { ...process.env, LD_PRELOAD: library, MCM_FFMPEG_PIPES: socketPath }, stdio: ['pipe', 'pipe', 'ignore'] });
      child = started;
      await new Promise<void>((resolve, reject) => {
        const settle = (error?: Error) => {
          clearTimeout(timer);
          started.stdout.off('data', onData);
          if (error) reject(error);
          else resolve();
        };
        const timer = setTimeout(() => settle(new Error(`it did not answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
        let heard = '';
        const onData = (chunk: Buffer) => {
          heard += chunk.toString('latin1');
          if (heard.includes('\n')) settle(heard === 'ready\n' ? undefined : new Error(`it answered ${JSON.stringify(heard.slice(0, 80))}`));
        };
        started.stdout.on('data', onData);
        started.once('error', settle);
        // A static ffmpeg ignores LD_PRELOAD and, given no output, exits at once.
        started.once('exit', (code, signal) => settle(new Error(`ffmpeg exited (${code ?? signal}) instead: the library was not loaded into it`)));
      });
      return new FfmpegLauncher(directory, server, started, onGone);
    } catch (error) {
      child?.kill('SIGKILL');
      server.close();
      await rm(directory, { recursive: true, force: true });
      throw error;
    }
  }

  /** The fork server's process id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Runs ffmpeg with `args` (its arguments, without the program name), connecting stderr and `descriptors`. */
  run(args: string[], descriptors: LaunchDescriptor[]): LaunchedRun {
    const id = ++this.nextId;
    let openPipes!: (pipes: FfmpegPipes) => void;
    let refuse!: (error: Error) => void;
    let close!: (exit: FfmpegExit) => void;
    let fail!: (error: Error) => void;
    const pipes = new Promise<FfmpegPipes>((resolve, reject) => ((openPipes = resolve), (refuse = reject)));
    const closed = new Promise<FfmpegExit>((resolve, reject) => ((close = resolve), (fail = reject)));
    const run: Run = { descriptors: [...descriptors, 2], connections: new Map(), stderr: [], started: false, opened: false, openPipes, refuse, close, fail };
    this.runs.set(id, run);
    this.busy();
    if (args.some((arg) => arg.includes('\0'))) this.abandon(id, new Error('an argument holds a NUL character'));
    else this.request(['run', String(id), run.descriptors.join(''), 'ffmpeg', ...args]);
    return { pipes, closed, kill: () => this.runs.has(id) && this.request(['kill', String(id)]) };
  }

  /** Stops the server; its runs are killed and fail. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      // Held open until the server has gone, which it does once its stdin closes.
      this.child.ref();
      this.child.stdin.end();
      await exited;
    }
    await this.release();
  }

  private request(fields: string[]): void {
    const payload = Buffer.from(fields.map((field) => `${field}\0`).join(''), 'utf8');
    this.child.stdin.write(Buffer.concat([Buffer.from(`${payload.length}\n`), payload]));
  }

  /** A connection names its run and descriptor in its first line; anything after it is ffmpeg's. */
  private accept(socket: net.Socket): void {
    socket.on('error', () => socket.destroy());
    let header = Buffer.alloc(0);
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) {
        header = Buffer.concat([header, chunk]);
        const end = header.indexOf(10);
        if (end < 0 && header.length < HEADER_LIMIT) continue;
        socket.removeListener('readable', onReadable);
        const [id, fd] = header.subarray(0, Math.max(end, 0)).toString('latin1').split(' ').map(Number);
        const run = this.runs.get(id);
        if (end < 0 || !run || !run.descriptors.includes(fd) || run.connections.has(fd)) return void socket.destroy();
        if (end + 1 < header.length) socket.unshift(header.subarray(end + 1));
        run.connections.set(fd, socket);
        if (fd === 2) socket.on('data', (data: Buffer) => run.stderr.push(data));
        return this.advance(id, run);
      }
    };
    socket.on('readable', onReadable);
  }

  private read(text: string): void {
    this.reports += text;
    let newline: number;
    while ((newline = this.reports.indexOf('\n')) >= 0) {
      const [kind, idText, ...rest] = this.reports.slice(0, newline).split(' ');
      this.reports = this.reports.slice(newline + 1);
      const id = Number(idText);
      const run = this.runs.get(id);
      if (!run) continue;
      if (kind === 'started') run.started = true;
      else if (kind === 'failed') this.abandon(id, new Error(rest.join(' ')));
      else if (kind === 'exit') {
        const [code, signal] = rest.map(Number);
        run.exit = { code: code < 0 ? null : code, signal: signal > 0 ? (SIGNAL_NAMES.get(signal) ?? null) : null };
      }
      if (this.runs.has(id)) this.advance(id, run);
    }
  }

  /** Hands the pipes over once ffmpeg runs and every connection is in; closes the run once it exited and its outputs ended. */
  private advance(id: number, run: Run): void {
    if (!run.opened && run.started && run.connections.size === run.descriptors.length) {
      run.opened = true;
      for (const [fd, socket] of run.connections) if (fd !== 0) socket.once('close', () => this.advance(id, run));
      run.openPipes({ stdin: run.connections.get(0) ?? null, stdout: run.connections.get(1) ?? null, side: run.connections.get(3) ?? null });
    }
    const outputsEnded = [...run.connections].every(([fd, socket]) => fd === 0 || socket.destroyed);
    if (run.opened && run.exit && outputsEnded && this.runs.delete(id)) {
      run.connections.get(0)?.destroy();
      run.close({ ...run.exit, stderr: Buffer.concat(run.stderr).toString('utf8') });
      this.idle();
    }
  }

  private abandon(id: number, error: Error): void {
    const run = this.runs.get(id);
    if (!run) return;
    this.runs.delete(id);
    for (const socket of run.connections.values()) socket.destroy();
    run.refuse(error);
    run.fail(error);
    this.idle();
  }

  private gone(error: Error): void {
    for (const id of [...this.runs.keys()]) this.abandon(id, error);
    if (!this.stopping) this.onGone();
    void this.release();
  }

  /** Closes the socket and removes its directory, once; every caller waits for the same removal. */
  private release(): Promise<void> {
    this.releasing ??= (async () => {
      process.off('exit', this.removeDirectory);
      this.server.close();
      await rm(this.directory, { recursive: true, force: true });
    })();
    return this.releasing;
  }

  // The server keeps this process alive only while a run is in flight.
  private busy(): void {
    (this.child.stdout as net.Socket).ref();
  }

  private idle(): void {
    if (this.runs.size > 0) return;
    this.child.unref();
    (this.child.stdout as net.Socket).unref();
    (this.child.stdin as net.Socket).unref();
  }
}

let enabled = false;
let server: { ffmpeg: string; library: string } = { ffmpeg: '', library: FORK_SERVER_LIBRARY };
let launcher: Promise<FfmpegLauncher | null> | undefined;
let lastFailure = '';

/**
 * From now on this process runs `ffmpeg` through a fork server (see `FfmpegLauncher`), or starts it directly
 * where no server can run (the library is not built, or the ffmpeg is static). Resolves with a line for the
 * start-up log. A server that stops is started again at the next run.
 */
export async function enableFfmpegLauncher(ffmpeg: string, library: string = FORK_SERVER_LIBRARY): Promise<string> {
  enabled = true;
  server = { ffmpeg, library };
  return (await currentLauncher()) ? 'ffmpeg runs are forked from a preloaded ffmpeg' : `ffmpeg runs start afresh: no fork server, ${lastFailure}`;
}

/** The fork server in use; null when it could not start (runs start directly); undefined when none was asked for. */
export function ffmpegLauncher(): Promise<FfmpegLauncher | null> | undefined {
  return enabled ? currentLauncher() : undefined;
}

function currentLauncher(): Promise<FfmpegLauncher | null> {
  if (launcher) return launcher;
  const forget = () => {
    if (launcher === opening) launcher = undefined;
  };
  const opening = openLauncher(forget);
  launcher = opening;
  return opening;
}

async function openLauncher(onGone: () => void): Promise<FfmpegLauncher | null> {
  if (!existsSync(server.library)) {
    lastFailure = `${server.library} is not built`;
    return null;
  }
  try {
    return await FfmpegLauncher.open(server.ffmpeg, server.library, onGone);
  } catch (error) {
    lastFailure = `it did not start: ${(error as Error).message}`;
    return null;
  }
}

/** Stops the fork server (tests and shutdown); from then on this process starts ffmpeg itself again. */
export async function disableFfmpegLauncher(): Promise<void> {
  const current = launcher;
  enabled = false;
  launcher = undefined;
  await (await current)?.stop();
}
