import { blueprintDurationSeconds, type Blueprint } from '@mcm/pipeline';
import { renderInstrumentalInWorker } from '../dsp.pool';

export const RENDER_RATE = 44_100;

/** Exact frame count of a blueprint at the render rate; every stem and the master share it. */
export function blueprintFrames(blueprint: Blueprint, sampleRate = RENDER_RATE): number {
  return Math.round(blueprintDurationSeconds(blueprint) * sampleRate);
}

export interface RenderOptions {
  /** Stops the render when aborted (the caller went away): its thread is terminated, the run rejects with AUDIO_ABORTED. */
  signal?: AbortSignal;
}

/** Plays the blueprint's Score through the soundfont into the backing track (44.1 kHz stereo 16-bit WAV, exactly the blueprint's length) in a worker thread. */
export async function renderInstrumental(blueprint: Blueprint, outWav: string, options: RenderOptions = {}): Promise<{ duration_s: number }> {
  const totalFrames = blueprintFrames(blueprint);
  const { frames } = await renderInstrumentalInWorker(
    {
      blueprint,
      totalFrames,
      sampleRate: RENDER_RATE,
      outWav,
    },
    options.signal,
  );
  return { duration_s: frames / RENDER_RATE };
}
