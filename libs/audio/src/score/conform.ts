import type { Blueprint } from '@mcm/pipeline';
import { AudioError } from '../audio-error';
import { ffmpegInput, runFfmpeg } from '../io/ffmpeg';
import { blueprintFrames, RENDER_RATE } from '../render/instrumental';

/**
 * Turns a track rendered elsewhere (an ElevenLabs MP3) into a stem the mix accepts: 44.1 kHz stereo
 * 16-bit WAV of exactly the blueprint's length, padded with silence or cut with a short fade. `format` is
 * the demuxer of what the renderer was asked for (ElevenLabs: `mp3`), never guessed from the bytes.
 */
export async function conformToBlueprint(input: string, format: string, blueprint: Blueprint, outWav: string): Promise<{ duration_s: number }> {
  const frames = blueprintFrames(blueprint);
  const seconds = frames / RENDER_RATE;
  const fade = Math.min(0.25, seconds / 4);
  const { stderr } = await runFfmpeg(
    [
      ...ffmpegInput(input, format),
      '-map',
      '0:a:0',
      '-af',
      `aresample=${RENDER_RATE},aformat=channel_layouts=stereo,afade=t=out:st=${(seconds - fade).toFixed(4)}:d=${fade.toFixed(4)},apad=whole_len=${frames},atrim=end_sample=${frames}`,
      '-c:a',
      'pcm_s16le',
      '-y',
      outWav,
    ],
    { failureCode: 'AUDIO_UNDECODABLE', failureRetryable: true },
  );
  if (!/Stream #0:\d+.*Audio/.test(stderr)) throw new AudioError('AUDIO_UNDECODABLE', 'the rendered track has no audio stream', true);
  return { duration_s: seconds };
}
