import { describe, expect, it } from 'vitest';
import { AudioError } from './audio-error';
import { runFfmpeg } from './ffmpeg';

/** A minute of silence read at its native rate: ffmpeg keeps running until stopped. */
const realTimeMinute = ['-re', '-f', 'lavfi', '-i', 'anullsrc=r=8000:cl=mono', '-t', '60', '-f', 'null', '-'];

async function failure(promise: Promise<unknown>): Promise<AudioError> {
  const error = await promise.then(() => null, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(AudioError);
  return error as AudioError;
}

describe('runFfmpeg', () => {
  it('kills ffmpeg when its signal aborts', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const error = await failure(runFfmpeg(realTimeMinute, { signal: controller.signal }));
    expect(error.code).toBe('AUDIO_ABORTED');
  });

  it('does not start ffmpeg for work already abandoned', async () => {
    const error = await failure(runFfmpeg(realTimeMinute, { signal: AbortSignal.abort() }));
    expect(error.code).toBe('AUDIO_ABORTED');
  });

  it('kills ffmpeg at its wall-clock limit', async () => {
    const error = await failure(runFfmpeg(realTimeMinute, { timeoutMs: 300 }));
    expect(error).toMatchObject({ code: 'AUDIO_TIMEOUT', retryable: false });
  });

  it('resolves a run that ends within its limit', async () => {
    const run = await runFfmpeg(['-f', 'lavfi', '-i', 'anullsrc=r=8000:cl=mono', '-t', '0.1', '-f', 'null', '-'], { timeoutMs: 30_000 });
    expect(run.stderr).toMatch(/time=/);
  });
});
