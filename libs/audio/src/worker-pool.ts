import { availableParallelism } from 'node:os';
import Piscina from 'piscina';
import { DEFAULT_MAX_RENDER_SECONDS } from '@mcm/pipeline';
import { AudioError } from './audio-error';

export interface AudioEngineLimits {
  /** Longest render the deployment allows, in seconds of audio (`MAX_RENDER_SECONDS`). */
  maxRenderSeconds: number;
  /** Longest a task may take, its wait for a thread included; then its thread is stopped. */
  taskTimeoutMs: number;
  /** Tasks that may wait for a thread; beyond that a task is refused at once with AUDIO_ENGINE_BUSY. */
  maxQueue: number;
  /** JS heap of each thread. Sample buffers live outside it: the render length bounds those. */
  maxOldGenerationSizeMb: number;
}

// 44.1 kHz stereo 32-bit float: the engine's working format.
const STEREO_FLOAT_BYTES_PER_SECOND = 44_100 * 2 * 4;

/** Limits that fit renders of up to `maxRenderSeconds`. */
export function engineLimitsFor(maxRenderSeconds: number): AudioEngineLimits {
  return {
    maxRenderSeconds,
    // The engine renders many times faster than real time: a task still running after the audio's own length is stuck.
    taskTimeoutMs: Math.max(60_000, Math.ceil(maxRenderSeconds * 1000)),
    maxQueue: Math.max(16, 4 * availableParallelism()),
    // A whole render's samples as heap headroom; a legitimate task uses a few MB of heap.
    maxOldGenerationSizeMb: Math.max(64, Math.ceil((maxRenderSeconds * STEREO_FLOAT_BYTES_PER_SECOND) / 2 ** 20)),
  };
}

let limits = engineLimitsFor(DEFAULT_MAX_RENDER_SECONDS);

/** Sets the limits of threads started from now on; each app calls it once at start-up. */
export function configureAudioEngine(next: Partial<AudioEngineLimits> & Pick<AudioEngineLimits, 'maxRenderSeconds'>): void {
  limits = { ...engineLimitsFor(next.maxRenderSeconds), ...next };
}

export function audioEngineLimits(): AudioEngineLimits {
  return { ...limits };
}

export interface PoolTaskOptions {
  transferList?: ArrayBuffer[];
  /** Stops the task when aborted (the caller went away); a running task's thread is terminated. */
  signal?: AbortSignal;
}

/**
 * A piscina pool of audio threads under the engine's limits: a bounded heap per thread, a timeout
 * per task and a bounded queue. A thread that dies (out of memory, timed out, abandoned) fails its
 * task with an AudioError and is replaced; the process goes on.
 */
export class AudioWorkerPool {
  private pool: Piscina | undefined;
  /** Tasks running or waiting for a thread. */
  private inFlight = 0;
  /** Set by `start()`: every thread runs from the start and none is stopped when idle. */
  private eager = false;

  constructor(
    private readonly label: string,
    private readonly filename: string,
    private readonly maxThreads: number,
  ) {}

  async run<T>(name: string, task: unknown, options: PoolTaskOptions = {}): Promise<T> {
    // Counted here: piscina's own maxQueue skips abortable tasks (piscinajs/piscina#899), and every task here is abortable.
    if (this.inFlight >= this.maxThreads + limits.maxQueue) {
      throw new AudioError('AUDIO_ENGINE_BUSY', `the ${this.label} threads are busy and their queue is full`, true);
    }
    const timeoutMs = limits.taskTimeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    this.inFlight += 1;
    try {
      return (await this.current().run(task, { name, transferList: options.transferList, signal })) as T;
    } catch (error) {
      if (error instanceof AudioError) throw error;
      const { message, code, name: errorName } = error as { message?: string; code?: string; name?: string };
      if (errorName === 'AbortError' && options.signal?.aborted) {
        throw new AudioError('AUDIO_ABORTED', `${this.label} ${name} was stopped: the work was abandoned`, true);
      }
      if (errorName === 'AbortError' && timeout.aborted) {
        throw new AudioError('AUDIO_TIMEOUT', `${this.label} ${name} took longer than ${timeoutMs} ms`, false);
      }
      if (code === 'ERR_WORKER_OUT_OF_MEMORY') {
        throw new AudioError('AUDIO_OUT_OF_MEMORY', `${this.label} ${name} ran out of memory`, false);
      }
      throw new AudioError('AUDIO_ENGINE_FAILED', `${this.label} thread failed in ${name}: ${message ?? String(error)}`, true);
    } finally {
      this.inFlight -= 1;
    }
  }

  /**
   * Starts every thread now and resolves once each has answered `readyTask`, so a process that
   * waits for it before taking work renders its first moment as fast as its tenth.
   */
  async start(readyTask: string): Promise<void> {
    this.eager = true;
    const pool = this.current();
    // Each thread takes one of these at once: a thread busy waiting for its font is not given another.
    await Promise.all(Array.from({ length: this.maxThreads }, () => pool.run({}, { name: readyTask })));
  }

  /** Stops the threads (tests and graceful shutdown); the pool starts again on next use. */
  async close(): Promise<void> {
    const current = this.pool;
    this.pool = undefined;
    await current?.destroy();
  }

  private current(): Piscina {
    if (this.pool) return this.pool;
    const pool = new Piscina({
      filename: this.filename,
      maxThreads: this.maxThreads,
      minThreads: this.eager ? this.maxThreads : undefined,
      idleTimeout: 30_000,
      resourceLimits: { maxOldGenerationSizeMb: limits.maxOldGenerationSizeMb },
    });
    // A thread failing with no task in hand must not become an unhandled 'error' that ends the process.
    pool.on('error', (error: Error) => process.emitWarning(`${this.label} thread failed outside a task: ${error.message}`));
    this.pool = pool;
    return pool;
  }
}
