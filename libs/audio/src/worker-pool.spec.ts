import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AudioError } from './audio-error';
import { audioEngineLimits, AudioWorkerPool, configureAudioEngine, engineLimitsFor } from './worker-pool';

const FIXTURE = path.join(__dirname, '../test/pool-fixture.worker.cjs');

async function failure(promise: Promise<unknown>): Promise<AudioError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AudioError);
  return error as AudioError;
}

describe('audio worker pool on real threads', () => {
  const pools: AudioWorkerPool[] = [];
  const start = (maxThreads = 1) => {
    const pool = new AudioWorkerPool('fixture worker', FIXTURE, maxThreads);
    pools.push(pool);
    return pool;
  };

  afterEach(async () => {
    await Promise.all(pools.splice(0).map((pool) => pool.close()));
    configureAudioEngine({ maxRenderSeconds: 300 });
  });

  it('sizes the limits from the longest render: heap for its samples, a bounded queue, a timeout', () => {
    const limits = engineLimitsFor(300);
    // 300 s of 44.1 kHz stereo float is 101 MiB.
    expect(limits.maxOldGenerationSizeMb).toBe(101);
    expect(limits.taskTimeoutMs).toBe(300_000);
    expect(Number.isFinite(limits.maxQueue)).toBe(true);
    expect(engineLimitsFor(5).maxOldGenerationSizeMb).toBe(64);
    configureAudioEngine({ maxRenderSeconds: 600 });
    expect(audioEngineLimits()).toEqual(engineLimitsFor(600));
  });

  it('turns a thread that dies on its memory limit into a non-retryable failure, and goes on', async () => {
    configureAudioEngine({ maxRenderSeconds: 300, maxOldGenerationSizeMb: 16 });
    const pool = start();
    const error = await failure(pool.run('hoard', null));
    expect(error).toMatchObject({ code: 'AUDIO_OUT_OF_MEMORY', retryable: false });
    expect(await pool.run('echo', 'still here')).toBe('still here');
  });

  it('refuses a task at once with a retryable AUDIO_ENGINE_BUSY when the queue is full', async () => {
    configureAudioEngine({ maxRenderSeconds: 300, maxQueue: 1 });
    const pool = start();
    const stop = new AbortController();
    const running = pool.run('spin', null, { signal: stop.signal });
    const queued = pool.run('echo', 'queued');
    // The first task never ends by itself, so this refusal cannot have waited for a thread.
    const refused = await failure(pool.run('echo', 'one too many'));
    expect(refused).toMatchObject({ code: 'AUDIO_ENGINE_BUSY', retryable: true });

    stop.abort();
    expect(await failure(running)).toMatchObject({ code: 'AUDIO_ABORTED' });
    expect(await queued).toBe('queued');
  });

  it('stops a task at its timeout by terminating its thread', async () => {
    configureAudioEngine({ maxRenderSeconds: 300, taskTimeoutMs: 200 });
    const pool = start();
    expect(await failure(pool.run('spin', null))).toMatchObject({ code: 'AUDIO_TIMEOUT', retryable: false });
    // The next task gets a fresh thread; its start-up (compiling the fixture worker) is not held to the 200 ms limit.
    configureAudioEngine({ maxRenderSeconds: 300 });
    expect(await pool.run('echo', 'fresh thread')).toBe('fresh thread');
  });

  it('does not start a task whose caller already went away', async () => {
    const pool = start();
    expect(await failure(pool.run('echo', 'late', { signal: AbortSignal.abort() }))).toMatchObject({ code: 'AUDIO_ABORTED', retryable: true });
  });
});
