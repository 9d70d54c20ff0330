import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import bundledFfmpeg from '@ffmpeg-installer/ffmpeg';
import { AudioError } from '../audio-error';
import { ffmpegBinary, ffmpegFilterLatency, ffmpegInput, ffmpegMajor, resolveFfmpeg, runFfmpeg, unguardedInput } from './ffmpeg';

/** A minute of silence read at its native rate: ffmpeg keeps running until stopped. */
const realTimeMinute = ['-re', '-f', 'lavfi', '-i', 'anullsrc=r=8000:cl=mono', '-t', '60', '-f', 'null', '-'];
const BUNDLED = bundledFfmpeg.path;

async function failure(promise: Promise<unknown>): Promise<AudioError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
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

  it('collects a second output from pipe:3 beside stdout', async () => {
    const { stdout, side } = await runFfmpeg(
      ['-f', 'lavfi', '-i', 'sine=f=440:r=8000:d=1', '-filter_complex', '[0:a]asplit=2[a][b];[b]atrim=end=0.25[c]', '-map', '[a]', '-f', 's16le', 'pipe:1', '-map', '[c]', '-f', 'u8', 'pipe:3'],
      { stdout: true, sideOutput: true },
    );
    expect(stdout.length).toBe(8000 * 2);
    expect(side.length).toBe(2000);
  });

  it('refuses, before starting ffmpeg, an input whose demuxer or protocols are left to ffmpeg', async () => {
    expect((await failure(runFfmpeg(['-i', '/tmp/clip', '-f', 'null', '-']))).message).toContain('/tmp/clip');
    expect((await failure(runFfmpeg(['-f', 'wav', '-i', '/tmp/clip', '-f', 'null', '-']))).code).toBe('AUDIO_ENGINE_FAILED');
    const stem = ffmpegInput('/tmp/vocals.wav', 'wav');
    expect(unguardedInput([...stem, ...ffmpegInput('pipe:0', 'mp3'), '-f', 'null', '-'])).toBeNull();
    expect(unguardedInput([...stem, '-i', '/tmp/second', '-f', 'null', '-'])).toBe('/tmp/second');
  });
});

describe('ffmpegFilterLatency', () => {
  it('measures how late a chain puts its input out', async () => {
    expect(await ffmpegFilterLatency('anull')).toBe(0);
    // 10 ms is 441 frames at 44.1 kHz.
    expect(Math.abs((await ffmpegFilterLatency('adelay=10')) - 441)).toBeLessThanOrEqual(1);
    expect(Math.abs((await ffmpegFilterLatency('volume=0.5,adelay=25')) - 1102)).toBeLessThanOrEqual(1);
  });
});

describe('ffmpegInput', () => {
  it('forces the demuxer and allows only the protocol the input needs', () => {
    expect(ffmpegInput('/tmp/a:b.wav', 'wav')).toEqual(['-protocol_whitelist', 'file', '-f', 'wav', '-i', 'file:/tmp/a:b.wav']);
    expect(ffmpegInput('pipe:0', 'f32le', ['-ar', '22050'])).toEqual(['-protocol_whitelist', 'pipe', '-f', 'f32le', '-ar', '22050', '-i', 'pipe:0']);
  });
});

describe('which ffmpeg runs', () => {
  let dir: string;
  /** A directory holding an `ffmpeg` that reports `version`, standing for a system package of that release. */
  const pathWith = async (name: string, version: string): Promise<string> => {
    const bin = path.join(dir, name);
    await mkdir(bin, { recursive: true });
    const ffmpeg = path.join(bin, 'ffmpeg');
    await writeFile(ffmpeg, `#!/bin/sh\necho 'ffmpeg version ${version} Copyright (c) 2000-2024 the FFmpeg developers'\n`);
    await chmod(ffmpeg, 0o755);
    return bin;
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mcm-ffmpeg-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads major releases, and none from git snapshots', () => {
    expect(ffmpegMajor('5.1.9-0+deb12u1')).toBe(5);
    expect(ffmpegMajor('n7.1')).toBe(7);
    expect(ffmpegMajor('4.4.2-0ubuntu0.22.04.1')).toBe(4);
    expect(ffmpegMajor('N-47683-g0e8eb07980-static')).toBeNull();
  });

  it('prefers FFMPEG_PATH over anything on PATH', async () => {
    const modern = await pathWith('modern', '7.1.1');
    expect(resolveFfmpeg({ FFMPEG_PATH: BUNDLED, PATH: modern })).toMatchObject({ path: BUNDLED, source: 'FFMPEG_PATH', version: expect.stringMatching(/\S/) });
  });

  it('refuses an FFMPEG_PATH that does not run', () => {
    expect(() => resolveFfmpeg({ FFMPEG_PATH: path.join(dir, 'nowhere', 'ffmpeg'), PATH: '' })).toThrow(/FFMPEG_PATH/);
  });

  it('takes an ffmpeg of release 5 or later from PATH, skipping older ones before it', async () => {
    const [old, modern] = await Promise.all([pathWith('old', '4.4.2-0ubuntu0.22.04.1'), pathWith('modern', '6.1.1-3ubuntu5')]);
    expect(resolveFfmpeg({ PATH: [old, modern].join(path.delimiter) })).toEqual({ path: path.join(modern, 'ffmpeg'), version: '6.1.1-3ubuntu5', source: 'PATH' });
  });

  it('falls back to the bundled build when PATH has no ffmpeg of release 5 or later', async () => {
    const old = await pathWith('old', '4.4.2-0ubuntu0.22.04.1');
    const bundled = resolveFfmpeg({ PATH: old });
    expect(bundled).toMatchObject({ path: BUNDLED, source: 'bundled' });
    expect(resolveFfmpeg({ PATH: '' })).toEqual(bundled);
  });

  it('resolves once per process', () => {
    expect(ffmpegBinary()).toBe(ffmpegBinary());
  });

  it('has every filter, encoder and muxer the engine uses', async () => {
    const list = async (kind: string, pattern: RegExp) => {
      const { stdout } = await runFfmpeg([`-${kind}`], { stdout: true });
      return new Set(
        stdout
          .toString('utf8')
          .split('\n')
          .flatMap((line) => pattern.exec(line)?.[1].split(',') ?? []),
      );
    };
    const filters = await list('filters', /^\s*[.A-Z|]{2,3}\s+(\S+)\s/);
    const encoders = await list('encoders', /^\s*A\S*\s+(\S+)\s/);
    const muxers = await list('muxers', /^\s*D?E\S*\s+(\S+)\s/);
    const used = {
      filters: [
        'ebur128',
        'loudnorm',
        'afftdn',
        'agate',
        'aecho',
        'aevalsrc',
        'sidechaincompress',
        'alimiter',
        'acompressor',
        'equalizer',
        'apad',
        'atrim',
        'afade',
        'amix',
        'aresample',
        'aformat',
        'asplit',
        'anullsink',
        'highpass',
        'lowpass',
        'volume',
        'asetpts',
      ],
      encoders: ['libmp3lame', 'pcm_s16le', 'pcm_f32le'],
      muxers: ['tee', 'mp3', 'wav', 'f32le', 'null'],
    };
    expect({
      filters: used.filters.filter((name) => !filters.has(name)),
      encoders: used.encoders.filter((name) => !encoders.has(name)),
      muxers: used.muxers.filter((name) => !muxers.has(name)),
    }).toEqual({ filters: [], encoders: [], muxers: [] });
  });
});
