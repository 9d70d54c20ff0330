import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Blueprint } from '@mcm/pipeline';
import { closeAudioWorkers } from '../dsp.pool';
import { blueprintFrames, renderInstrumental, RENDER_RATE } from './instrumental';
import { arrange } from '../score/arrange';
import { encodeWav16 } from '../io/wav';
import { renderScore } from './sampler';
import { bundledSoundFontPath, loadSoundBank } from './soundfont';

const blueprint: Blueprint = {
  id: 'font-test',
  style: 'cinematic',
  tempo_bpm: 97,
  key: 'F#m',
  time_signature: '4/4',
  sections: [
    { name: 'verse', bars: 1, energy: 0.6 },
    { name: 'chorus', bars: 2, energy: 0.9 },
  ],
  lyrics: 'la',
  voice: { voice_id: 'local-voice' },
};

/** The instrumental rendered in this thread with a given font, as the stem's WAV bytes. */
async function renderWith(font: string): Promise<Buffer> {
  const channels = await renderScore(arrange(blueprint), await loadSoundBank(font), blueprintFrames(blueprint), RENDER_RATE);
  return encodeWav16(channels, RENDER_RATE);
}

describe('SOUNDFONT_PATH', () => {
  const dir = { path: '' };

  // Set before the worker threads start: each thread reads the configured font once, as it starts.
  beforeAll(async () => {
    process.env.SOUNDFONT_PATH = bundledSoundFontPath('MuseScore_General_Lite');
    dir.path = await mkdtemp(path.join(tmpdir(), 'mcm-font-'));
  });

  afterAll(async () => {
    delete process.env.SOUNDFONT_PATH;
    await closeAudioWorkers();
    await rm(dir.path, { recursive: true, force: true });
  });

  it('names the font the worker threads play the instruments with', async () => {
    const stem = path.join(dir.path, 'instrumental.wav');
    await renderInstrumental(blueprint, stem);
    const rendered = await readFile(stem);
    const [musescore, fluid] = await Promise.all([renderWith(bundledSoundFontPath('MuseScore_General_Lite')), renderWith(bundledSoundFontPath('FluidR3Mono'))]);
    expect(rendered.equals(musescore)).toBe(true);
    expect(rendered.equals(fluid)).toBe(false);
  });

  it('refuses a path that holds no font with a clear engine error', async () => {
    await expect(loadSoundBank(path.join(dir.path, 'no-such-font.sf2'))).rejects.toMatchObject({
      code: 'AUDIO_ENGINE_FAILED',
      message: 'the soundfont no-such-font.sf2 could not be read: ENOENT',
      retryable: false,
    });
    const text = path.join(dir.path, 'not-a-font.sf2');
    await writeFile(text, 'RIFF but not a soundfont');
    await expect(loadSoundBank(text)).rejects.toMatchObject({ code: 'AUDIO_ENGINE_FAILED', message: expect.stringContaining('the soundfont not-a-font.sf2 could not be read') });
  });
});
