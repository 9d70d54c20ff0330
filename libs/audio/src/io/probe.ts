import { Writable } from 'node:stream';
import { AudioError } from '../audio-error';
import { ffmpegInput, runFfmpeg } from './ffmpeg';

export interface AudioProbe {
  duration_s: number;
  /** Seconds of sound loud enough to be a voice: 20 ms windows above −50 dBFS, rumble and DC removed. */
  audible_s: number;
  sample_rate: number;
  channels: number;
  codec: string;
  format: string;
}

export interface ProbeOptions {
  /** The demuxer the content sniff chose (see `uploadDemuxer`); ffmpeg never guesses one. */
  format: string;
  /** Longer recordings are refused; decoding stops a second past it, whatever the file's header claims. */
  maxSeconds?: number;
  /** Recordings with less audible sound than this are refused. */
  minAudibleSeconds?: number;
  /** Kills the decoder when the caller goes away. */
  signal?: AbortSignal;
  /** Kills the decoder after this much wall-clock time. */
  timeoutMs?: number;
}

// The meter listens at 8 kHz mono: plenty for a voice's energy and cheap for any input rate.
const METER_RATE = 8_000;
const METER_FILTERS = `aformat=channel_layouts=mono,aresample=${METER_RATE},highpass=f=80`;
const WINDOW_SAMPLES = METER_RATE / 50;
// A phone's noise floor sits near −56 dBFS in 20 ms windows, while a quiet (−45 LUFS) hum rises well above −50.
const AUDIBLE_DBFS = -50;

/** Counts decoded samples and the 20 ms windows loud enough to hear as ffmpeg streams them; memory stays flat. */
class AudibleMeter extends Writable {
  samples = 0;
  audibleWindows = 0;
  private carry = Buffer.alloc(0);
  private energy = 0;
  private filled = 0;
  private readonly threshold = WINDOW_SAMPLES * 10 ** (AUDIBLE_DBFS / 10);

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const bytes = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    const whole = bytes.length - (bytes.length % 4);
    for (let offset = 0; offset < whole; offset += 4) {
      const sample = bytes.readFloatLE(offset);
      this.energy += sample * sample;
      if (++this.filled === WINDOW_SAMPLES) {
        if (this.energy >= this.threshold) this.audibleWindows++;
        this.energy = 0;
        this.filled = 0;
      }
    }
    this.samples += whole / 4;
    this.carry = Buffer.from(bytes.subarray(whole));
    callback();
  }

  get seconds(): number {
    return this.samples / METER_RATE;
  }

  get audibleSeconds(): number {
    return (this.audibleWindows * WINDOW_SAMPLES) / METER_RATE;
  }
}

/**
 * Decodes an upload as the container its content was sniffed as, at most a second past `maxSeconds`,
 * and measures how much of it is audible. Refuses (non-retryable AudioErrors): no audio (AUDIO_EMPTY),
 * nothing decodable (AUDIO_UNDECODABLE), a decoder error after some audio (AUDIO_TRUNCATED), too long
 * (AUDIO_TOO_LONG) and too little audible sound (AUDIO_TOO_SHORT). Stream facts come from ffmpeg's log
 * (the package ships no ffprobe); lengths come from the samples actually decoded.
 */
export async function probeAudio(file: string, options: ProbeOptions): Promise<AudioProbe> {
  const meter = new AudibleMeter();
  const limit = options.maxSeconds === undefined ? [] : ['-t', String(options.maxSeconds + 1)];
  let stderr: string;
  try {
    // -xerror ends the run at the first decoding error, so a file that breaks off is not passed as a shorter one.
    ({ stderr } = await runFfmpeg(['-nostats', '-xerror', ...ffmpegInput(file, options.format, limit), '-map', '0:a:0', '-af', METER_FILTERS, '-f', 'f32le', 'pipe:1'], {
      output: meter,
      failureCode: 'AUDIO_UNDECODABLE',
      failureRetryable: false,
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    }));
  } catch (error) {
    if (!(error instanceof AudioError) || error.code !== 'AUDIO_UNDECODABLE') throw error;
    if (/does not contain any stream|matches no streams/i.test(error.message)) throw new AudioError('AUDIO_EMPTY', 'the upload has no audio stream', false);
    if (meter.samples > 0) throw new AudioError('AUDIO_TRUNCATED', `the audio breaks off after ${meter.seconds.toFixed(2)} s: ${error.message}`, false);
    throw error;
  }
  const stream = parseStream(stderr);
  if (!stream) throw new AudioError('AUDIO_EMPTY', 'the upload has no audio stream', false);
  const duration = meter.seconds;
  if (!(duration > 0)) throw new AudioError('AUDIO_EMPTY', 'the upload contains no audio', false);
  if (options.maxSeconds !== undefined && duration > options.maxSeconds) {
    throw new AudioError('AUDIO_TOO_LONG', `the upload lasts more than ${options.maxSeconds} s (decoding stopped at ${duration.toFixed(1)} s)`, false);
  }
  const audible = meter.audibleSeconds;
  if (options.minAudibleSeconds !== undefined && audible < options.minAudibleSeconds) {
    throw new AudioError('AUDIO_TOO_SHORT', `the upload has ${audible.toFixed(2)} s of audible sound; at least ${options.minAudibleSeconds} s are needed`, false);
  }
  return { duration_s: round3(duration), audible_s: round3(audible), ...stream };
}

export type AudioStream = Pick<AudioProbe, 'sample_rate' | 'channels' | 'codec' | 'format'>;

/** Reads the container and the first audio stream from ffmpeg's input log. */
export function parseStream(stderr: string): AudioStream | null {
  const format = /Input #0, (.+?), from /.exec(stderr)?.[1] ?? 'unknown';
  const inputLog = stderr.split(/^Stream mapping:|^Output #0/m)[0];
  const stream = /Stream #0:\d+(?:\[[^\]]*\])?(?:\([^)]*\))?: Audio: ([^,\s]+)[^,]*, (\d+) Hz, ([^,]+)/.exec(inputLog);
  if (!stream) return null;
  const [, codec, rate, layout] = stream;
  return { sample_rate: Number(rate), channels: channelCount(layout.trim()), codec, format: format.split(',')[0] };
}

/** The first input audio stream and the decoded length, read from the progress lines of ffmpeg's stderr. */
export function parseProbe(stderr: string): (AudioStream & { duration_s: number }) | null {
  const stream = parseStream(stderr);
  if (!stream) return null;
  // The last progress line is what was actually decoded, which a wrong container header cannot inflate.
  const times = [...stderr.matchAll(/time=\s*(-?\d+):(\d+):(\d+(?:\.\d+)?)/g)];
  const last = times.at(-1);
  const decoded = last ? Number(last[1]) * 3600 + Number(last[2]) * 60 + Number(last[3]) : 0;
  return { ...stream, duration_s: Math.max(0, round3(decoded)) };
}

const round3 = (value: number): number => Math.round(value * 1000) / 1000;

function channelCount(layout: string): number {
  if (layout === 'mono') return 1;
  if (layout === 'stereo' || layout === 'downmix') return 2;
  const explicit = /(\d+) channels/.exec(layout);
  if (explicit) return Number(explicit[1]);
  const surround = /^(\d+)\.(\d+)/.exec(layout);
  if (surround) return Number(surround[1]) + Number(surround[2]);
  return 1;
}
