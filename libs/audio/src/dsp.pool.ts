import path from 'node:path';
import { availableParallelism } from 'node:os';
import type { InstrumentalTask, PitchTrackTask, VoiceFindings, VoiceTask } from './dsp.worker';
import { AudioWorkerPool } from './worker-pool';

/**
 * The compiled build runs `dsp.worker.js` directly; from TypeScript source (vitest) the worker
 * goes through a loader that compiles `.ts` on require, so both run real worker threads.
 */
function workerFilename(): string {
  return __filename.endsWith('.js') ? path.join(__dirname, 'dsp.worker.js') : path.join(__dirname, 'dsp-worker.loader.cjs');
}

const pool = new AudioWorkerPool('audio worker', workerFilename(), Math.max(1, Math.min(4, availableParallelism())));

export function analyzeVoiceInWorker(task: VoiceTask): Promise<VoiceFindings> {
  return pool.run('analyzeVoice', task, { transferList: [task.pcm.buffer as ArrayBuffer] });
}

/** The take's pitch frame by frame, for the vocal engine's tuning. */
export function pitchTrackInWorker(task: PitchTrackTask): Promise<Float32Array> {
  return pool.run('pitchTrack', task, { transferList: [task.pcm.buffer as ArrayBuffer] });
}

export function renderInstrumentalInWorker(task: InstrumentalTask, signal?: AbortSignal): Promise<{ frames: number }> {
  return pool.run('renderInstrumental', task, { signal });
}

/** Starts the audio threads and resolves once each has loaded the soundfont and warmed its sampler. */
export function startAudioWorkers(): Promise<void> {
  return pool.start('ready');
}

/** Stops the worker threads (tests and graceful shutdown); the pool restarts on next use. */
export function closeAudioWorkers(): Promise<void> {
  return pool.close();
}
