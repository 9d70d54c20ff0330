import path from 'node:path';
import { availableParallelism } from 'node:os';
import Piscina from 'piscina';
import { AudioError } from './audio-error';
import type { InstrumentalTask, VoiceFindings, VoiceTask } from './dsp.worker';

let pool: Piscina | undefined;

/**
 * The compiled build runs `dsp.worker.js` directly; from TypeScript source (vitest) the worker
 * goes through a loader that compiles `.ts` on require, so both run real worker threads.
 */
function workerFilename(): string {
  return __filename.endsWith('.js') ? path.join(__dirname, 'dsp.worker.js') : path.join(__dirname, 'dsp-worker.loader.cjs');
}

function dspPool(): Piscina {
  pool ??= new Piscina({
    filename: workerFilename(),
    maxThreads: Math.max(1, Math.min(4, availableParallelism())),
    idleTimeout: 30_000,
  });
  return pool;
}

async function run<T>(name: string, task: unknown, transferList?: ArrayBuffer[]): Promise<T> {
  try {
    return (await dspPool().run(task, { name, transferList })) as T;
  } catch (error) {
    if (error instanceof AudioError) throw error;
    throw new AudioError('AUDIO_ENGINE_FAILED', `audio worker failed in ${name}: ${(error as Error).message}`, true);
  }
}

export function analyzeVoiceInWorker(task: VoiceTask): Promise<VoiceFindings> {
  return run('analyzeVoice', task, [task.pcm.buffer as ArrayBuffer]);
}

export function renderInstrumentalInWorker(task: InstrumentalTask): Promise<{ frames: number }> {
  return run('renderInstrumental', task);
}

/** Stops the worker threads (tests and graceful shutdown); the pool restarts on next use. */
export async function closeAudioWorkers(): Promise<void> {
  const current = pool;
  pool = undefined;
  await current?.destroy();
}
