import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { AudioError, type AudioErrorCode } from '../audio-error';
import { disableFfmpegLauncher, enableFfmpegLauncher, ffmpegLauncher, type FfmpegExit, type LaunchDescriptor, type LaunchedRun } from './ffmpeg-launcher';

/** Where the ffmpeg in use came from, in the order they are tried. */
export type FfmpegSource = 'FFMPEG_PATH' | 'PATH' | 'bundled';

export interface FfmpegBinary {
  path: string;
  /** As `ffmpeg -version` prints it, e.g. `5.1.9-0+deb12u1`, or the bundled build's git snapshot name. */
  version: string;
  source: FfmpegSource;
}

/** The oldest release taken from PATH: older ones miss years of demuxer fixes, and the bundled 2018 build is no better. */
export const MIN_PATH_FFMPEG_MAJOR = 5;

/** The version a binary reports, or null when it does not run as ffmpeg. */
export function ffmpegVersion(binary: string): string | null {
  const run = spawnSync(binary, ['-hide_banner', '-version'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
  if (run.status !== 0) return null;
  return /^ffmpeg version (\S+)/m.exec(run.stdout ?? '')?.[1] ?? null;
}

const filterPresence = new Map<string, boolean>();

/** Whether the ffmpeg in use has a filter (the bundled 2018 build lacks deesser, for one); asked once per name. */
export function ffmpegHasFilter(name: string): boolean {
  let present = filterPresence.get(name);
  if (present === undefined) {
    const run = spawnSync(ffmpegPath(), ['-hide_banner', '-h', `filter=${name}`], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
    present = run.status === 0 && new RegExp(`^Filter ${name}\\b`, 'm').test(run.stdout ?? '');
    filterPresence.set(name, present);
  }
  return present;
}

const filterLatencies = new Map<string, Promise<number>>();
// The probe: a 1 kHz tone from this second on, after silence.
const PROBE_ONSET_S = 0.25;
const PROBE_RATE = 44_100;

/**
 * How many frames (at 44.1 kHz) a filter chain's output lags its input with the ffmpeg in use: afftdn
 * lags 25 ms in ffmpeg 5 and not at all in the bundled build, alimiter by its attack. Measured once per
 * chain from a tone's onset, since releases differ.
 */
export function ffmpegFilterLatency(filters: string): Promise<number> {
  let latency = filterLatencies.get(filters);
  if (latency === undefined) {
    const tone = `aevalsrc=if(gte(t\\,${PROBE_ONSET_S})\\,0.5*sin(2*PI*1000*(t-${PROBE_ONSET_S}))\\,0):s=${PROBE_RATE}:d=0.6`;
    latency = runFfmpeg([...ffmpegInput(tone, 'lavfi'), '-af', filters, '-ac', '1', '-f', 'f32le', 'pipe:1'], { stdout: true }).then(({ stdout }) => {
      const pcm = new Float32Array(stdout.buffer.slice(stdout.byteOffset, stdout.byteOffset + (stdout.length - (stdout.length % 4))));
      const heard = pcm.findIndex((sample) => Math.abs(sample) > 0.05);
      // The tone crosses 0.05 a few samples after it starts, in the input as in the output.
      const crossing = Math.ceil((Math.asin(0.1) / (2 * Math.PI * 1000)) * PROBE_RATE);
      return heard < 0 ? 0 : Math.max(0, heard - Math.round(PROBE_ONSET_S * PROBE_RATE) - crossing);
    });
    filterLatencies.set(filters, latency);
  }
  return latency;
}

/** The major release of a version string; null for git snapshots (such as the bundled build), which carry none. */
export function ffmpegMajor(version: string): number | null {
  const match = /^n?(\d+)\.\d+/.exec(version);
  return match ? Number(match[1]) : null;
}

function executablesOnPath(envPath: string | undefined): string[] {
  const name = process.platform === 'win32' ? 'ffmpeg.exe' : 'ffmpeg';
  return (envPath ?? '')
    .split(path.delimiter)
    .filter((directory) => path.isAbsolute(directory))
    .map((directory) => path.join(directory, name))
    .filter((candidate) => {
      try {
        accessSync(candidate, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/**
 * Picks the ffmpeg to run: `FFMPEG_PATH` when set (it must run), else the first `ffmpeg` on PATH
 * of release 5 or later, else the build shipped inside `@ffmpeg-installer/ffmpeg`.
 */
export function resolveFfmpeg(env: NodeJS.ProcessEnv = process.env): FfmpegBinary {
  const configured = env.FFMPEG_PATH?.trim();
  if (configured) {
    const version = ffmpegVersion(configured);
    if (!version) throw new AudioError('AUDIO_ENGINE_FAILED', `FFMPEG_PATH names ${configured}, which does not run as ffmpeg`, false);
    return { path: configured, version, source: 'FFMPEG_PATH' };
  }
  for (const candidate of executablesOnPath(env.PATH)) {
    const version = ffmpegVersion(candidate);
    const major = version ? ffmpegMajor(version) : null;
    if (version && major !== null && major >= MIN_PATH_FFMPEG_MAJOR) return { path: candidate, version, source: 'PATH' };
  }
  // Loaded lazily so a deployment with its own ffmpeg needs no bundled binary.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a static import would load the bundled binary's package on every start
  const bundled = require('@ffmpeg-installer/ffmpeg') as { path: string; version: string };
  return { path: bundled.path, version: ffmpegVersion(bundled.path) ?? bundled.version, source: 'bundled' };
}

let resolved: FfmpegBinary | undefined;

/** The ffmpeg this process runs, resolved once (see `resolveFfmpeg`). */
export function ffmpegBinary(): FfmpegBinary {
  resolved ??= resolveFfmpeg();
  return resolved;
}

/** The path of the ffmpeg this process runs. */
export function ffmpegPath(): string {
  return ffmpegBinary().path;
}

/** One line for start-up logs: which ffmpeg, which release, and why it was chosen. */
export function describeFfmpeg(binary: FfmpegBinary = ffmpegBinary()): string {
  const origin = { FFMPEG_PATH: 'set by FFMPEG_PATH', PATH: 'found on PATH', bundled: 'bundled with @ffmpeg-installer/ffmpeg' }[binary.source];
  return `ffmpeg ${binary.version} at ${binary.path} (${origin})`;
}

/**
 * The options that open one input: its demuxer is forced and only the protocol it needs is allowed,
 * so nothing inside the data (a playlist, a concat script) can make ffmpeg read anything else.
 */
export function ffmpegInput(source: string, format: string, options: string[] = []): string[] {
  // A lavfi input is a filter graph written here, not data: it opens no protocol.
  if (format === 'lavfi') return ['-f', 'lavfi', ...options, '-i', source];
  const pipe = /^pipe:\d*$/.test(source);
  return ['-protocol_whitelist', pipe ? 'pipe' : 'file', '-f', format, ...options, '-i', pipe || source.startsWith('file:') ? source : `file:${source}`];
}

/** The first input opened without a forced demuxer or a protocol whitelist, or null when every one has both. */
export function unguardedInput(args: string[]): string | null {
  let group: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== '-i') {
      group.push(args[i]);
      continue;
    }
    const format = group.lastIndexOf('-f') >= 0 ? group[group.lastIndexOf('-f') + 1] : undefined;
    if (!format || (format !== 'lavfi' && !group.includes('-protocol_whitelist'))) return args[i + 1] ?? '';
    group = [];
    i++;
  }
  return null;
}

export interface FfmpegRun {
  stdout: Buffer;
  stderr: string;
  /** What ffmpeg wrote to `pipe:3`, when `sideOutput` asked for it. */
  side: Buffer;
}

export interface FfmpegOptions {
  /** Collect stdout (for `pipe:1` outputs); otherwise it is discarded. */
  stdout?: boolean;
  /** Collect a second output written to `pipe:3`, so one decode can feed two uses. */
  sideOutput?: boolean;
  /** Streamed into ffmpeg's stdin (for `pipe:0` inputs). */
  input?: Readable;
  /** Receives ffmpeg's stdout as it is written (for `pipe:1` outputs feeding another process); ended with it. */
  output?: Writable;
  /** The error code used when ffmpeg exits non-zero. */
  failureCode?: AudioErrorCode;
  failureRetryable?: boolean;
  /** Kills ffmpeg when aborted (the caller went away); the run rejects with AUDIO_ABORTED. */
  signal?: AbortSignal;
  /** Kills ffmpeg after this many milliseconds of wall-clock time; the run rejects with AUDIO_TIMEOUT. */
  timeoutMs?: number;
}

/**
 * Filter graphs run on ffmpeg's main thread. By default ffmpeg 5 and later spread each audio frame of a
 * threaded filter (the equalisers, afftdn) over a thread per core: for 1024-sample frames the hand-offs cost
 * more than the filtering, so the mix's premix ran 0.6 s of wall time and 0.5 s of CPU instead of 0.24 s and
 * 0.24 s. The stages already run side by side on the cores.
 */
const SINGLE_THREADED_FILTERS = ['-filter_threads', '1', '-filter_complex_threads', '1'];

/** Runs ffmpeg with an argument list (no shell) and rejects with an AudioError when it fails. */
export function runFfmpeg(args: string[], options: FfmpegOptions = {}): Promise<FfmpegRun> {
  const code = options.failureCode ?? 'AUDIO_ENGINE_FAILED';
  const retryable = options.failureRetryable ?? code === 'AUDIO_ENGINE_FAILED';
  const unguarded = unguardedInput(args);
  if (unguarded !== null) return Promise.reject(new AudioError('AUDIO_ENGINE_FAILED', `ffmpeg input ${unguarded} has no forced format and protocol whitelist`, false));
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(new AudioError('AUDIO_ABORTED', 'ffmpeg was not started: the work was abandoned', true));
    let stopped: AudioError | null = null;
    const descriptors: LaunchDescriptor[] = [];
    if (options.input) descriptors.push(0);
    if (options.stdout || options.output) descriptors.push(1);
    if (options.sideOutput) descriptors.push(3);
    const child = startFfmpeg(['-hide_banner', '-nostdin', ...SINGLE_THREADED_FILTERS, ...args], descriptors);
    const out: Buffer[] = [];
    const side: Buffer[] = [];
    child.pipes.then(
      ({ stdin, stdout, side: sideOutput }) => {
        if (options.input && stdin) {
          // A reader that stops early (ffmpeg failed) must not crash the caller with EPIPE; its exit code tells.
          stdin.on('error', () => undefined);
          options.input.pipe(stdin);
        }
        if (options.output && stdout) stdout.pipe(options.output);
        if (options.stdout) stdout?.on('data', (chunk: Buffer) => out.push(chunk));
        if (options.sideOutput) sideOutput?.on('data', (chunk: Buffer) => side.push(chunk));
      },
      // The same failure rejects `closed`, handled below.
      () => undefined,
    );
    const stop = (error: AudioError) => {
      stopped ??= error;
      child.kill();
    };
    const onAbort = () => stop(new AudioError('AUDIO_ABORTED', 'ffmpeg was stopped: the work was abandoned', true));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = options.timeoutMs === undefined ? null : setTimeout(() => stop(new AudioError('AUDIO_TIMEOUT', `ffmpeg took longer than ${options.timeoutMs} ms`, false)), options.timeoutMs);
    const settle = () => {
      options.signal?.removeEventListener('abort', onAbort);
      if (timer) clearTimeout(timer);
      // Whatever still flows in is drained, so a writer upstream never stalls on a reader that has gone.
      if (options.input) options.input.unpipe().resume();
    };
    child.closed.then(
      ({ code: exitCode, signal, stderr }) => {
        settle();
        if (stopped) return reject(stopped);
        if (exitCode === 0) return resolve({ stdout: Buffer.concat(out), stderr, side: Buffer.concat(side) });
        const reason = lastLines(stderr, 3) || `exit ${exitCode ?? signal}`;
        reject(new AudioError(code, `ffmpeg failed: ${reason}`, retryable));
      },
      (error: Error) => {
        settle();
        reject(stopped ?? new AudioError('AUDIO_ENGINE_FAILED', `ffmpeg could not run: ${error.message}`, true));
      },
    );
  });
}

/**
 * From now on ffmpeg runs are forked from a preloaded ffmpeg (the fork server, see `FfmpegLauncher`) where one
 * can run, instead of each starting afresh; the apps call it at start-up. Resolves with a line for the log.
 */
export function startFfmpegLauncher(library?: string): Promise<string> {
  return enableFfmpegLauncher(ffmpegPath(), library);
}

/** Stops the fork server (tests and shutdown); from then on each run starts afresh. */
export function stopFfmpegLauncher(): Promise<void> {
  return disableFfmpegLauncher();
}

/** Starts ffmpeg through this process's fork server when it has one, else directly. */
function startFfmpeg(args: string[], descriptors: LaunchDescriptor[]): LaunchedRun {
  const file = ffmpegPath();
  const launcher = ffmpegLauncher();
  if (!launcher) return spawnFfmpeg(file, args, descriptors);
  let run: LaunchedRun | undefined;
  let killed = false;
  const launched = launcher.then((server) => {
    run = server ? server.run(args, descriptors) : spawnFfmpeg(file, args, descriptors);
    if (killed) run.kill();
    return run;
  });
  return {
    pipes: launched.then((started) => started.pipes),
    closed: launched.then((started) => started.closed),
    kill: () => {
      killed = true;
      run?.kill();
    },
  };
}

function spawnFfmpeg(file: string, args: string[], descriptors: LaunchDescriptor[]): LaunchedRun {
  const pipe = (fd: LaunchDescriptor) => (descriptors.includes(fd) ? 'pipe' : 'ignore');
  const child = spawn(file, args, { stdio: [pipe(0), pipe(1), 'pipe', ...(descriptors.includes(3) ? (['pipe'] as const) : [])] });
  const err: Buffer[] = [];
  child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
  const closed = new Promise<FfmpegExit>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr: Buffer.concat(err).toString('utf8') }));
  });
  return {
    pipes: Promise.resolve({ stdin: child.stdin, stdout: child.stdout, side: (child.stdio[3] as Readable | undefined) ?? null }),
    closed,
    kill: () => child.kill('SIGKILL'),
  };
}

function lastLines(text: string, count: number): string {
  return text
    .split(/\r?\n|\r/)
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(-count)
    .join(' | ');
}
