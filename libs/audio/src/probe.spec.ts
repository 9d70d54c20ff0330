import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AudioError } from './audio-error';
import { probeAudio } from './probe';
import { measureLoudness } from './loudness';
import { analyzeAudio } from './analysis';
import { closeAudioWorkers } from './dsp.pool';
import { runFfmpeg } from './ffmpeg';

const fixtures = path.resolve(__dirname, '../../../test/fixtures');

async function refusal(promise: Promise<unknown>): Promise<AudioError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AudioError);
  return error as AudioError;
}

describe('probeAudio', () => {
  it('reads the phone recording', async () => {
    const started = performance.now();
    const probe = await probeAudio(path.join(fixtures, 'hum-phone.m4a'));
    const elapsed = performance.now() - started;
    expect(probe).toMatchObject({ sample_rate: 48000, channels: 1, codec: 'aac', format: 'mov' });
    expect(probe.duration_s).toBeCloseTo(11.98, 1);
    expect(elapsed).toBeLessThan(1000);
  });

  it('reads the clean wav', async () => {
    const probe = await probeAudio(path.join(fixtures, 'voice-clean.wav'));
    expect(probe.codec).toMatch(/^pcm_/);
    expect(probe.format).toBe('wav');
    expect(probe.duration_s).toBeCloseTo(11.98, 1);
  });

  it('refuses a text file named .wav', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mcm-probe-'));
    const fake = path.join(dir, 'notes.wav');
    await writeFile(fake, 'this is not audio, just a shopping list\n'.repeat(20));
    const error = await refusal(probeAudio(fake));
    expect(error.code).toBe('AUDIO_UNDECODABLE');
    expect(error.retryable).toBe(false);
  });

  it('refuses a truncated copy of the m4a', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mcm-probe-'));
    const truncated = path.join(dir, 'cut.m4a');
    const bytes = await readFile(path.join(fixtures, 'hum-phone.m4a'));
    await writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const error = await refusal(probeAudio(truncated));
    expect(error.code).toBe('AUDIO_UNDECODABLE');
  });

  it('refuses a clip longer than the limit', async () => {
    const error = await refusal(probeAudio(path.join(fixtures, 'voice-clean.wav'), { maxSeconds: 5 }));
    expect(error.code).toBe('AUDIO_TOO_LONG');
  });

  it('refuses a file with no audio samples', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mcm-probe-'));
    const empty = path.join(dir, 'empty.wav');
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
    await writeFile(empty, header);
    const error = await refusal(probeAudio(empty));
    expect(['AUDIO_EMPTY', 'AUDIO_UNDECODABLE']).toContain(error.code);
  });
});

describe('measureLoudness', () => {
  it('measures the two takes of the same recording', async () => {
    const quiet = await measureLoudness(path.join(fixtures, 'hum-phone.m4a'));
    const clean = await measureLoudness(path.join(fixtures, 'voice-clean.wav'));
    expect(quiet.integrated_lufs).toBeGreaterThan(-48);
    expect(quiet.integrated_lufs).toBeLessThan(-42);
    expect(clean.integrated_lufs).toBeCloseTo(-16, 0);
    expect(clean.true_peak_dbtp).toBeLessThanOrEqual(0.5);
  });
});

describe('phone and browser formats', () => {
  it('probes and analyses the take as mp3, ogg/opus, webm, flac and stereo 44.1 kHz wav', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mcm-formats-'));
    const source = path.join(fixtures, 'voice-clean.wav');
    const variants: [string, string[], string][] = [
      ['take.mp3', ['-c:a', 'libmp3lame', '-b:a', '96k'], 'mp3'],
      ['take.ogg', ['-c:a', 'libopus', '-b:a', '48k'], 'opus'],
      ['take.webm', ['-c:a', 'libopus', '-b:a', '48k'], 'opus'],
      ['take.flac', ['-c:a', 'flac'], 'flac'],
      ['take-stereo.wav', ['-ac', '2', '-ar', '44100', '-c:a', 'pcm_s16le'], 'pcm_s16le'],
    ];
    await Promise.all(variants.map(([name, args]) => runFfmpeg(['-i', source, ...args, '-y', path.join(dir, name)])));
    for (const [name, , codec] of variants) {
      const probe = await probeAudio(path.join(dir, name));
      expect(probe.codec).toBe(codec);
      expect(Math.abs(probe.duration_s - 11.98)).toBeLessThan(0.1);
    }
    expect((await probeAudio(path.join(dir, 'take-stereo.wav'))).channels).toBe(2);
    const analysis = await analyzeAudio(path.join(dir, 'take.ogg'));
    expect(analysis.notes.length).toBeGreaterThanOrEqual(8);
    expect(analysis.key).toMatch(/^[A-G](#|b)?m?$/);
    await closeAudioWorkers();
  });
});
