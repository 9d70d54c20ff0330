import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import bundledFfmpeg from '@ffmpeg-installer/ffmpeg';
import { AudioError } from '../audio-error';
import { ffmpegBinary, ffmpegFilterLatency, ffmpegInput, ffmpegMajor, resolveFfmpeg, runFfmpeg, startFfmpegLauncher, stopFfmpegLauncher, unguardedInput } from './ffmpeg';
import { buildForkServer, enableFfmpegLauncher, ffmpegLauncher, type FfmpegLauncher } from './ffmpeg-launcher';

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

/** The fork server built from its source for this file's runs. */
let forkServer = '';
beforeAll(async () => {
  forkServer = path.join(await mkdtemp(path.join(tmpdir(), 'mcm-forkserver-spec-')), 'ffmpeg-forkserver.so');
  await buildForkServer(forkServer);
});
afterAll(() => rm(path.dirname(forkServer), { recursive: true, force: true }));

describe.each([
  { how: 'afresh from this process', forked: false },
  { how: 'forked from the fork server', forked: true },
])('runFfmpeg, each run started $how', ({ forked }) => {
  beforeAll(async () => {
    await stopFfmpegLauncher();
    if (forked) expect(await startFfmpegLauncher(forkServer)).toBe('ffmpeg runs are forked from a preloaded ffmpeg');
  });
  afterAll(() => stopFfmpegLauncher());

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

  it('passes what it is given through stdin and stdout unchanged, for runs side by side', async () => {
    const takes = Array.from({ length: 6 }, (_, take) => Buffer.from(Float32Array.from({ length: 44_100 * (take + 1) }, (_, i) => Math.sin(i / (take + 3))).buffer));
    const runs = await Promise.all(
      takes.map((take) => runFfmpeg([...ffmpegInput('pipe:0', 'f32le', ['-ar', '44100', '-ac', '1']), '-f', 'f32le', 'pipe:1'], { input: Readable.from([take]), stdout: true })),
    );
    runs.forEach((run, take) => expect(run.stdout.equals(takes[take])).toBe(true));
  });

  it("rejects with ffmpeg's own reason when it fails", async () => {
    const error = await failure(runFfmpeg(['-f', 'lavfi', '-i', 'nosuchfilter', '-f', 'null', '-']));
    expect(error).toMatchObject({ code: 'AUDIO_ENGINE_FAILED', retryable: true });
    expect(error.message).toContain("No such filter: 'nosuchfilter'");
  });

  it('refuses, before starting ffmpeg, an input whose demuxer or protocols are left to ffmpeg', async () => {
    expect((await failure(runFfmpeg(['-i', '/tmp/clip', '-f', 'null', '-']))).message).toContain('/tmp/clip');
    expect((await failure(runFfmpeg(['-f', 'wav', '-i', '/tmp/clip', '-f', 'null', '-']))).code).toBe('AUDIO_ENGINE_FAILED');
    const stem = ffmpegInput('/tmp/vocals.wav', 'wav');
    expect(unguardedInput([...stem, ...ffmpegInput('pipe:0', 'mp3'), '-f', 'null', '-'])).toBeNull();
    expect(unguardedInput([...stem, '-i', '/tmp/second', '-f', 'null', '-'])).toBe('/tmp/second');
  });
});

describe('the ffmpeg fork server', () => {
  afterEach(() => stopFfmpegLauncher());

  /** The processes whose parent is `pid`: their ids and names. */
  async function children(pid: number): Promise<{ pid: number; name: string }[]> {
    const found: { pid: number; name: string }[] = [];
    for (const entry of await readdir('/proc')) {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
      const match = /^(\d+) \((.*)\) \S+ (\d+)/.exec(stat);
      if (match && Number(match[3]) === pid) found.push({ pid: Number(match[1]), name: match[2] });
    }
    return found;
  }
  const childrenOf = async (pid: number) => (await children(pid)).map((child) => child.name);
  const childPids = async (pid: number) => (await children(pid)).map((child) => child.pid);

  async function startedServer(): Promise<FfmpegLauncher> {
    await startFfmpegLauncher(forkServer);
    const server = await ffmpegLauncher();
    if (!server?.pid) throw new Error('no fork server');
    return server;
  }

  const quarterSecond = ['-f', 'lavfi', '-i', 'anullsrc=r=8000:cl=mono', '-t', '0.25', '-f', 'u8', 'pipe:1'];

  it("forks each run from the server: this process's one ffmpeg child is the server", async () => {
    const server = await startedServer();
    const controller = new AbortController();
    const run = runFfmpeg(realTimeMinute, { signal: controller.signal });
    await vi.waitFor(async () => expect(await childrenOf(server.pid!)).toEqual(['ffmpeg']), { timeout: 10_000 });
    expect((await childrenOf(process.pid)).filter((name) => name === 'ffmpeg')).toHaveLength(1);
    // ps and /proc show the run's own arguments, not the server's.
    const [forked] = await childPids(server.pid!);
    expect((await readFile(`/proc/${forked}/cmdline`, 'utf8')).split('\0')).toEqual(expect.arrayContaining(['ffmpeg', '-re', 'anullsrc=r=8000:cl=mono', '-t', '60']));
    controller.abort();
    expect((await failure(run)).code).toBe('AUDIO_ABORTED');
    await vi.waitFor(async () => expect(await childrenOf(server.pid!)).toEqual([]), { timeout: 10_000 });
  });

  it('fails the runs in hand, retryable, when the server dies, and a new server takes the next run', async () => {
    const first = await startedServer();
    const run = runFfmpeg(realTimeMinute);
    await vi.waitFor(async () => expect(await childrenOf(first.pid!)).toContain('ffmpeg'), { timeout: 10_000 });
    const [orphan] = await childPids(first.pid!);
    process.kill(first.pid!, 'SIGKILL');
    expect(await failure(run)).toMatchObject({ code: 'AUDIO_ENGINE_FAILED', retryable: true, message: expect.stringContaining('fork server stopped') });
    // Its run dies with it.
    await vi.waitFor(async () => expect(await readFile(`/proc/${orphan}/stat`, 'utf8').catch(() => 'gone')).toMatch(/^gone$|\) Z /), { timeout: 5_000 });
    expect((await runFfmpeg(quarterSecond, { stdout: true })).stdout.length).toBe(2000);
    expect((await ffmpegLauncher())?.pid).not.toBe(first.pid);
  });

  it('settles a run killed before ffmpeg ran a line of it', async () => {
    await startedServer();
    for (const soon of [queueMicrotask, setImmediate, (stop: () => void) => setTimeout(stop, 5)]) {
      const controller = new AbortController();
      const run = runFfmpeg(realTimeMinute, { signal: controller.signal, stdout: true });
      soon(() => controller.abort());
      expect((await failure(run)).code).toBe('AUDIO_ABORTED');
    }
  });

  it('kills its runs when it is stopped', async () => {
    const server = await startedServer();
    const run = runFfmpeg(realTimeMinute);
    await vi.waitFor(async () => expect(await childrenOf(server.pid!)).toContain('ffmpeg'), { timeout: 10_000 });
    const failed = failure(run);
    await stopFfmpegLauncher();
    expect((await failed).retryable).toBe(true);
    expect(ffmpegLauncher()).toBeUndefined();
  });

  it('refuses a connection that names no run of its own', async () => {
    const server = await startedServer();
    const socketPath = (await readdir(tmpdir())).map((name) => path.join(tmpdir(), name, 'pipes.sock')).find((candidate) => candidate.includes(`mcm-ffmpeg_launcher-${process.pid}-`));
    expect(socketPath).toBeDefined();
    // Only this process's user may reach the socket at all.
    expect((await stat(path.dirname(socketPath!))).mode & 0o777).toBe(0o700);
    const stranger = connect(socketPath!);
    stranger.write('999 1\n');
    await new Promise((resolve) => stranger.once('close', resolve));
    expect((await runFfmpeg(quarterSecond, { stdout: true })).stdout.length).toBe(2000);
    expect((await ffmpegLauncher())?.pid).toBe(server.pid);
  });

  it('leaves each run to start afresh where no server can run, and says why', async () => {
    expect(await startFfmpegLauncher(path.join(tmpdir(), 'no-such-forkserver.so'))).toMatch(/^ffmpeg runs start afresh: no fork server, .*no-such-forkserver\.so is not built$/);
    expect((await runFfmpeg(quarterSecond, { stdout: true })).stdout.length).toBe(2000);
    await stopFfmpegLauncher();
    // A static ffmpeg ignores LD_PRELOAD.
    expect(await enableFfmpegLauncher(BUNDLED, forkServer)).toMatch(/^ffmpeg runs start afresh: no fork server, it did not start: ffmpeg exited/);
    expect(await ffmpegLauncher()).toBeNull();
    expect((await runFfmpeg(quarterSecond, { stdout: true })).stdout.length).toBe(2000);
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
