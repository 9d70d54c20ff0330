import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AudioError } from './audio-error';
import { probeAudio } from './probe';
import { measureLoudness } from './loudness';

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
