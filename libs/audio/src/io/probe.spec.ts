import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AudioError } from '../audio-error';
import { UPLOAD_DEMUXERS, uploadDemuxer } from './containers';
import { probeAudio } from './probe';
import { measureLoudness } from '../mix/loudness';
import { analyzeAudio } from '../analysis/analysis';
import { closeAudioWorkers } from '../dsp.pool';
import { ffmpegInput, runFfmpeg } from './ffmpeg';

const fixtures = path.resolve(__dirname, '../../../../test/fixtures');
const HUM = path.join(fixtures, 'hum-phone.m4a');
const CLEAN = path.join(fixtures, 'voice-clean.wav');
/** "Hello there", spoken by espeak-ng and encoded as a browser would (Ogg/Opus): about a second. */
const TWO_WORDS = path.join(fixtures, 'two-words.ogg');
const LIMITS = { maxSeconds: 60, minAudibleSeconds: 0.5 };

let dir: string;

async function refusal(promise: Promise<unknown>): Promise<AudioError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AudioError);
  return error as AudioError;
}

/** Writes `name` in the test directory with ffmpeg: `input` opens the source, `output` encodes it. */
async function make(name: string, input: string[], output: string[]): Promise<string> {
  const file = path.join(dir, name);
  await runFfmpeg([...input, ...output, '-y', file]);
  return file;
}

/** A copy of `file` with `edit` applied to its bytes. */
async function mangle(file: string, name: string, edit: (bytes: Buffer) => Buffer): Promise<string> {
  const target = path.join(dir, name);
  await writeFile(target, edit(await readFile(file)));
  return target;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mcm-probe-'));
});

afterAll(async () => {
  await closeAudioWorkers();
  await rm(dir, { recursive: true, force: true });
});

describe('probeAudio', () => {
  it('reads the quiet phone recording (−45 LUFS) and finds seconds of audible hum in it', async () => {
    const probe = await probeAudio(HUM, { format: 'mov', ...LIMITS });
    expect(probe).toMatchObject({ sample_rate: 48000, channels: 1, codec: 'aac', format: 'mov' });
    expect(probe.duration_s).toBeCloseTo(11.98, 1);
    expect(probe.audible_s).toBeGreaterThan(3);
    expect(probe.audible_s).toBeLessThan(probe.duration_s);
  });

  it('reads the clean wav', async () => {
    const probe = await probeAudio(CLEAN, { format: 'wav', ...LIMITS });
    expect(probe.codec).toMatch(/^pcm_/);
    expect(probe.format).toBe('wav');
    expect(probe.duration_s).toBeCloseTo(11.98, 1);
    expect(probe.audible_s).toBeGreaterThan(10);
  });

  it('accepts a spoken two-word phrase of about a second', async () => {
    const probe = await probeAudio(TWO_WORDS, { format: 'ogg', ...LIMITS });
    expect(probe.duration_s).toBeLessThan(1.2);
    expect(probe.audible_s).toBeGreaterThanOrEqual(0.5);
  });

  it('refuses 0.2 s of tone as too short', async () => {
    const tone = await make('tone.wav', ffmpegInput('sine=frequency=440:sample_rate=16000:duration=0.2', 'lavfi'), ['-af', 'volume=-6dB']);
    const error = await refusal(probeAudio(tone, { format: 'wav', ...LIMITS }));
    expect(error).toMatchObject({ code: 'AUDIO_TOO_SHORT', retryable: false });
  });

  it("refuses 3 s of a phone's noise floor (white noise at −56 dBFS) as too short", async () => {
    const floor = await make('floor.wav', ffmpegInput('anoisesrc=color=white:amplitude=0.0027:sample_rate=48000:duration=3', 'lavfi'), ['-c:a', 'pcm_s16le']);
    const error = await refusal(probeAudio(floor, { format: 'wav', ...LIMITS }));
    expect(error.code).toBe('AUDIO_TOO_SHORT');
    expect(error.message).toContain('0.00 s of audible sound');
  });

  it('refuses a text file named .wav', async () => {
    const fake = path.join(dir, 'notes.wav');
    await writeFile(fake, 'this is not audio, just a shopping list\n'.repeat(20));
    const error = await refusal(probeAudio(fake, { format: 'wav' }));
    expect(error.code).toBe('AUDIO_UNDECODABLE');
    expect(error.retryable).toBe(false);
  });

  it('refuses the m4a cut in half (its index is at the end, so nothing decodes) as undecodable', async () => {
    const truncated = await mangle(HUM, 'cut.m4a', (bytes) => bytes.subarray(0, Math.floor(bytes.length / 2)));
    const error = await refusal(probeAudio(truncated, { format: 'mov' }));
    expect(error.code).toBe('AUDIO_UNDECODABLE');
  });

  describe('refuses audio that breaks off after it began', () => {
    it('an m4a with its index first, cut a third of the way through its samples', async () => {
      const faststart = await make('faststart.m4a', ffmpegInput(HUM, 'mov'), ['-c', 'copy', '-movflags', '+faststart']);
      const cut = await mangle(faststart, 'faststart-cut.m4a', (bytes) => bytes.subarray(0, Math.floor(bytes.length / 3)));
      const error = await refusal(probeAudio(cut, { format: 'mov', ...LIMITS }));
      expect(error).toMatchObject({ code: 'AUDIO_TRUNCATED', retryable: false });
      expect(error.message).toMatch(/breaks off after [1-9]/);
    });

    it('an mp3 whose middle is overwritten with noise', async () => {
      const mp3 = await make('take.mp3', ffmpegInput(CLEAN, 'wav'), ['-c:a', 'libmp3lame', '-b:a', '128k']);
      const corrupt = await mangle(mp3, 'corrupt.mp3', (bytes) => {
        const copy = Buffer.from(bytes);
        let seed = 7;
        for (let i = Math.floor(copy.length / 2); i < Math.floor(copy.length / 2) + 4000; i++) copy[i] = seed = (seed * 1103515245 + 12345) & 0xff;
        return copy;
      });
      expect((await refusal(probeAudio(corrupt, { format: 'mp3', ...LIMITS }))).code).toBe('AUDIO_TRUNCATED');
    });

    it('a WAV cut mid-sample, its header still declaring the whole take', async () => {
      const cut = await mangle(CLEAN, 'cut.wav', (bytes) => bytes.subarray(0, 44 + 2 * 48000 * 3 + 1));
      expect((await refusal(probeAudio(cut, { format: 'wav', ...LIMITS }))).code).toBe('AUDIO_TRUNCATED');
    });

    it('a FLAC cut in half', async () => {
      const flac = await make('take.flac', ffmpegInput(CLEAN, 'wav'), ['-c:a', 'flac']);
      const cut = await mangle(flac, 'cut.flac', (bytes) => bytes.subarray(0, Math.floor(bytes.length / 2)));
      expect((await refusal(probeAudio(cut, { format: 'flac', ...LIMITS }))).code).toBe('AUDIO_TRUNCATED');
    });
  });

  it('refuses a clip longer than the limit', async () => {
    const error = await refusal(probeAudio(CLEAN, { format: 'wav', maxSeconds: 5 }));
    expect(error.code).toBe('AUDIO_TOO_LONG');
  });

  it('stops decoding a second past the limit: a 6-hour silent FLAC is refused after 61 s of audio', async () => {
    const sixHours = await make('six-hours.flac', ffmpegInput('anullsrc=r=8000:cl=mono', 'lavfi'), ['-t', '21600', '-c:a', 'flac', '-frame_size', '65535']);
    const error = await refusal(probeAudio(sixHours, { format: 'flac', ...LIMITS }));
    expect(error.code).toBe('AUDIO_TOO_LONG');
    expect(error.message).toContain('decoding stopped at 61.0 s');
  });

  it('refuses a file with no audio samples', async () => {
    const header = Buffer.alloc(44);
    header.write('RIFF', 0, 'ascii');
    header.writeUInt32LE(36, 4);
    header.write('WAVEfmt ', 8, 'ascii');
    header.writeUInt32LE(16, 16);
    header.writeUInt16LE(1, 20);
    header.writeUInt16LE(1, 22);
    header.writeUInt32LE(44100, 24);
    header.writeUInt32LE(88200, 28);
    header.writeUInt16LE(2, 32);
    header.writeUInt16LE(16, 34);
    header.write('data', 36, 'ascii');
    const empty = path.join(dir, 'empty.wav');
    await writeFile(empty, header);
    expect((await refusal(probeAudio(empty, { format: 'wav' }))).code).toBe('AUDIO_EMPTY');
  });

  describe('reads only the file it is given, as the container it was sniffed as', () => {
    /** An ID3 tag, as an MP3 starts with: ffmpeg's own probing skips it and reads what follows. */
    const id3 = () => {
      const frame = Buffer.concat([Buffer.from('TIT2'), Buffer.from([0, 0, 0, 6, 0, 0, 0]), Buffer.from('hum\0\0')]);
      return Buffer.concat([Buffer.from('ID3'), Buffer.from([3, 0, 0, 0, 0, 0, frame.length]), frame]);
    };
    let elsewhere: string;

    beforeAll(async () => {
      // A recording outside the upload, in a container every ffmpeg follows from a playlist.
      elsewhere = await make('elsewhere.mp3', ffmpegInput(CLEAN, 'wav'), ['-c:a', 'libmp3lame', '-b:a', '64k']);
    });

    it('an HLS playlist naming a local recording, behind an MP3 tag, is not followed', async () => {
      const playlist = path.join(dir, 'upload-playlist');
      await writeFile(playlist, Buffer.concat([id3(), Buffer.from(`#EXTM3U\n#EXT-X-TARGETDURATION:20\n#EXTINF:20,\n${elsewhere}\n#EXT-X-ENDLIST\n`)]));
      const error = await refusal(probeAudio(playlist, { format: 'mp3', ...LIMITS }));
      expect(['AUDIO_UNDECODABLE', 'AUDIO_EMPTY']).toContain(error.code);
    });

    it('an ffconcat script naming a recording beside it, behind an MP3 tag, is not followed', async () => {
      const script = path.join(dir, 'upload-concat');
      await writeFile(script, Buffer.concat([id3(), Buffer.from(`ffconcat version 1.0\nfile ${path.basename(elsewhere)}\n`)]));
      const error = await refusal(probeAudio(script, { format: 'mp3', ...LIMITS }));
      expect(['AUDIO_UNDECODABLE', 'AUDIO_EMPTY']).toContain(error.code);
    });

    it('a WAV is not read as anything but the container named', async () => {
      expect((await refusal(probeAudio(CLEAN, { format: 'mp3' }))).code).toMatch(/^AUDIO_(UNDECODABLE|EMPTY)$/);
    });
  });

  describe('stops when its caller goes away or its time is up', () => {
    let heavy: string;

    beforeAll(async () => {
      // 61 s of 7.1 at 384 kHz compresses to a few kB of FLAC yet takes a while to decode.
      heavy = await make('heavy.flac', ffmpegInput('anullsrc=r=384000:cl=7.1', 'lavfi'), ['-t', '61', '-c:a', 'flac', '-frame_size', '65535']);
    });

    it('kills the decoder when the signal aborts', async () => {
      const controller = new AbortController();
      const probe = probeAudio(heavy, { format: 'flac', ...LIMITS, signal: controller.signal });
      setImmediate(() => controller.abort());
      expect((await refusal(probe)).code).toBe('AUDIO_ABORTED');
    });

    it('kills the decoder at its wall-clock limit', async () => {
      expect((await refusal(probeAudio(heavy, { format: 'flac', ...LIMITS, timeoutMs: 1 }))).code).toBe('AUDIO_TIMEOUT');
    });
  });
});

describe('measureLoudness', () => {
  it('measures the two takes of the same recording', async () => {
    const quiet = await measureLoudness(HUM, 'mov');
    const clean = await measureLoudness(CLEAN, 'wav');
    expect(quiet.integrated_lufs).toBeGreaterThan(-48);
    expect(quiet.integrated_lufs).toBeLessThan(-42);
    expect(clean.integrated_lufs).toBeCloseTo(-16, 0);
    expect(clean.true_peak_dbtp).toBeLessThanOrEqual(0.5);
  });
});

describe('phone and browser formats', () => {
  it('the ffmpeg in use has a demuxer for every container an upload can be', async () => {
    const { stdout } = await runFfmpeg(['-demuxers'], { stdout: true });
    const demuxers = new Set(
      stdout
        .toString('utf8')
        .split('\n')
        .flatMap((line) => /^\s*D\S*\s+(\S+)/.exec(line)?.[1].split(',') ?? []),
    );
    expect([...new Set(Object.values(UPLOAD_DEMUXERS))].filter((demuxer) => !demuxers.has(demuxer))).toEqual([]);
  });

  it('probes and analyses the take as recorded by phones and browsers, each as its sniffed container', async () => {
    const source = ffmpegInput(CLEAN, 'wav');
    const variants: [string, string[], string][] = [
      ['take.mp3', ['-c:a', 'libmp3lame', '-b:a', '96k'], 'mp3'],
      ['take.ogg', ['-c:a', 'libopus', '-b:a', '48k'], 'opus'],
      ['take.webm', ['-c:a', 'libopus', '-b:a', '48k'], 'opus'],
      // As MediaRecorder writes it: streamed, so no cues, no duration and clusters of unknown size.
      ['recorder.webm', ['-c:a', 'libopus', '-b:a', '32k', '-f', 'webm', '-live', '1'], 'opus'],
      // As Safari's MediaRecorder writes it: fragmented MP4.
      ['recorder.mp4', ['-c:a', 'aac', '-b:a', '64k', '-movflags', 'frag_keyframe+empty_moov+default_base_moof'], 'aac'],
      ['take.aac', ['-c:a', 'aac', '-b:a', '64k', '-f', 'adts'], 'aac'],
      ['take.flac', ['-c:a', 'flac'], 'flac'],
      ['take-stereo.wav', ['-ac', '2', '-ar', '44100', '-c:a', 'pcm_s16le'], 'pcm_s16le'],
    ];
    await Promise.all(variants.map(([name, args]) => make(name, source, args)));
    for (const [name, , codec] of variants) {
      const format = uploadDemuxer(path.extname(name).slice(1))!;
      const probe = await probeAudio(path.join(dir, name), { format, ...LIMITS });
      expect({ name, codec: probe.codec }).toEqual({ name, codec });
      expect(Math.abs(probe.duration_s - 11.98)).toBeLessThan(0.1);
      expect(probe.audible_s).toBeGreaterThan(10);
    }
    expect((await probeAudio(path.join(dir, 'take-stereo.wav'), { format: 'wav' })).channels).toBe(2);
    const analysis = await analyzeAudio(path.join(dir, 'take.ogg'), 'ogg');
    expect(analysis.notes.length).toBeGreaterThanOrEqual(8);
    expect(analysis.key).toMatch(/^[A-G](#|b)?m?$/);
  });
});
