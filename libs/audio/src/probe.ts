import { AudioError } from './audio-error';
import { runFfmpeg } from './ffmpeg';

export interface AudioProbe {
  duration_s: number;
  sample_rate: number;
  channels: number;
  codec: string;
  format: string;
}

/**
 * Decodes the whole file (to ffmpeg's null output) so corrupt or truncated uploads are refused,
 * and reads duration, rate and channels from ffmpeg's log (the package ships no ffprobe).
 */
export async function probeAudio(file: string, opts: { maxSeconds?: number } = {}): Promise<AudioProbe> {
  const { stderr } = await runFfmpeg(['-xerror', '-i', file, '-map', '0:a:0?', '-f', 'null', '-'], {
    failureCode: 'AUDIO_UNDECODABLE',
    failureRetryable: false,
  }).catch((error: unknown) => {
    if (error instanceof AudioError && /does not contain any stream|matches no streams/i.test(error.message)) {
      throw new AudioError('AUDIO_EMPTY', 'the upload has no audio stream', false);
    }
    throw error;
  });
  const probe = parseProbe(stderr);
  if (!probe) throw new AudioError('AUDIO_EMPTY', 'the upload has no audio stream', false);
  if (!(probe.duration_s > 0)) throw new AudioError('AUDIO_EMPTY', 'the upload contains no audio', false);
  if (opts.maxSeconds !== undefined && probe.duration_s > opts.maxSeconds) {
    throw new AudioError('AUDIO_TOO_LONG', `the upload lasts ${probe.duration_s.toFixed(1)} s; at most ${opts.maxSeconds} s are accepted`, false);
  }
  return probe;
}

/** Reads the first input audio stream and the decoded length from ffmpeg's stderr. */
export function parseProbe(stderr: string): AudioProbe | null {
  const format = /Input #0, (.+?), from /.exec(stderr)?.[1] ?? 'unknown';
  const inputLog = stderr.split(/^Stream mapping:|^Output #0/m)[0];
  const stream = /Stream #0:\d+(?:\[[^\]]*\])?(?:\([^)]*\))?: Audio: ([^,\s]+)[^,]*, (\d+) Hz, ([^,]+)/.exec(inputLog);
  if (!stream) return null;
  const [, codec, rate, layout] = stream;
  // The last progress line is what was actually decoded, which a wrong container header cannot inflate.
  const times = [...stderr.matchAll(/time=\s*(-?\d+):(\d+):(\d+(?:\.\d+)?)/g)];
  const last = times.at(-1);
  const decoded = last ? Number(last[1]) * 3600 + Number(last[2]) * 60 + Number(last[3]) : 0;
  return {
    duration_s: Math.max(0, Math.round(decoded * 1000) / 1000),
    sample_rate: Number(rate),
    channels: channelCount(layout.trim()),
    codec,
    format: format.split(',')[0],
  };
}

function channelCount(layout: string): number {
  if (layout === 'mono') return 1;
  if (layout === 'stereo' || layout === 'downmix') return 2;
  const explicit = /(\d+) channels/.exec(layout);
  if (explicit) return Number(explicit[1]);
  const surround = /^(\d+)\.(\d+)/.exec(layout);
  if (surround) return Number(surround[1]) + Number(surround[2]);
  return 1;
}
