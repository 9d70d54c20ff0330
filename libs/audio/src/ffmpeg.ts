import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { AudioError, type AudioErrorCode } from './audio-error';

/** The ffmpeg binary: `FFMPEG_PATH` when set, else the one shipped inside `@ffmpeg-installer/ffmpeg`. */
export function ffmpegPath(): string {
  const fromEnv = process.env.FFMPEG_PATH;
  if (fromEnv) return fromEnv;
  // Loaded lazily so a deployment that sets FFMPEG_PATH needs no bundled binary.
  return (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
}

export interface FfmpegRun {
  stdout: Buffer;
  stderr: string;
}

export interface FfmpegOptions {
  /** Collect stdout (for `pipe:1` outputs); otherwise it is discarded. */
  stdout?: boolean;
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

/** Runs ffmpeg with an argument list (no shell) and rejects with an AudioError when it fails. */
export function runFfmpeg(args: string[], options: FfmpegOptions = {}): Promise<FfmpegRun> {
  const code = options.failureCode ?? 'AUDIO_ENGINE_FAILED';
  const retryable = options.failureRetryable ?? code === 'AUDIO_ENGINE_FAILED';
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(new AudioError('AUDIO_ABORTED', 'ffmpeg was not started: the work was abandoned', true));
    let stopped: AudioError | null = null;
    const child = spawn(ffmpegPath(), ['-hide_banner', '-nostdin', ...args], {
      stdio: [options.input ? 'pipe' : 'ignore', options.stdout || options.output ? 'pipe' : 'ignore', 'pipe'],
    });
    if (options.input && child.stdin) {
      // A reader that stops early (ffmpeg failed) must not crash the caller with EPIPE; its exit code tells.
      child.stdin.on('error', () => undefined);
      options.input.pipe(child.stdin);
    }
    if (options.output && child.stdout) child.stdout.pipe(options.output);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    if (options.stdout) child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    const stop = (error: AudioError) => {
      stopped ??= error;
      child.kill('SIGKILL');
    };
    const onAbort = () => stop(new AudioError('AUDIO_ABORTED', 'ffmpeg was stopped: the work was abandoned', true));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = options.timeoutMs === undefined ? null : setTimeout(() => stop(new AudioError('AUDIO_TIMEOUT', `ffmpeg took longer than ${options.timeoutMs} ms`, false)), options.timeoutMs);
    child.on('error', (error) => reject(new AudioError('AUDIO_ENGINE_FAILED', `ffmpeg could not start: ${error.message}`, true)));
    child.on('close', (exitCode, signal) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (timer) clearTimeout(timer);
      // Whatever still flows in is drained, so a writer upstream never stalls on a reader that has gone.
      if (options.input) options.input.unpipe().resume();
      const stderr = Buffer.concat(err).toString('utf8');
      if (stopped) return reject(stopped);
      if (exitCode === 0) return resolve({ stdout: Buffer.concat(out), stderr });
      const reason = lastLines(stderr, 3) || `exit ${exitCode ?? signal}`;
      reject(new AudioError(code, `ffmpeg failed: ${reason}`, retryable));
    });
  });
}

function lastLines(text: string, count: number): string {
  return text
    .split(/\r?\n|\r/)
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(-count)
    .join(' | ');
}
