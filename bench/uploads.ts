import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { ROOT, startStack } from '../scripts/stack';
import { benchEnvironment } from './bench-environment';

/**
 * Memory of one api process while UPLOADS recordings of MEGABYTES each arrive at once: VmRSS from
 * /proc/<pid>/status before, and at its peak (sampled every 20 ms; the kernel's high-water mark
 * since start is shown beside it). Every upload is checked (probe) and streamed to storage; no worker runs. The recording is
 * a WAV of 96 kHz, 24-bit stereo tone, just under MAX_UPLOAD_MB.
 */
const UPLOADS = Number(process.env.BENCH_UPLOADS ?? 30);
const MEGABYTES = Number(process.env.BENCH_UPLOAD_MB ?? 25);

/** A WAV of a quiet tone filling `bytes` (header included), 96 kHz 24-bit stereo. */
function toneWav(bytes: number): Buffer {
  const rate = 96_000;
  const channels = 2;
  const frameBytes = channels * 3;
  const frames = Math.floor((bytes - 44) / frameBytes);
  const wav = Buffer.alloc(44 + frames * frameBytes);
  wav.write('RIFF', 0);
  wav.writeUInt32LE(wav.length - 8, 4);
  wav.write('WAVEfmt ', 8);
  wav.writeUInt32LE(16, 16);
  wav.writeUInt16LE(1, 20);
  wav.writeUInt16LE(channels, 22);
  wav.writeUInt32LE(rate, 24);
  wav.writeUInt32LE(rate * frameBytes, 28);
  wav.writeUInt16LE(frameBytes, 32);
  wav.writeUInt16LE(24, 34);
  wav.write('data', 36);
  wav.writeUInt32LE(frames * frameBytes, 40);
  for (let frame = 0; frame < frames; frame++) {
    const sample = Math.round(Math.sin((2 * Math.PI * 220 * frame) / rate) * 0.3 * 0x7fffff);
    for (let channel = 0; channel < channels; channel++) wav.writeIntLE(sample, 44 + frame * frameBytes + channel * 3, 3);
  }
  return wav;
}

/** Resident memory of a process in MB, from /proc/<pid>/status (`VmRSS`, or `VmHWM` for its peak so far). */
function residentMb(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  // A process that has exited has no memory left to show.
  return match ? Number(match[1]) / 1024 : 0;
}

const round = (value: number) => Math.round(value * 10) / 10;

async function main(): Promise<void> {
  const { env, remove } = benchEnvironment({
    MAX_UPLOAD_MB: String(MEGABYTES),
    MAX_AUDIO_SECONDS: '60',
    // Every upload is checked and stored; none is turned away as busy or rate limited.
    MAX_CONCURRENT_PROBES: String(UPLOADS),
    PROBE_TIMEOUT_MS: '120000',
    RATE_LIMIT_CREATE_PER_MINUTE: '100000',
  });
  const stack = await startStack({ env, workers: 0, log: (app, line) => /"level":"(warn|error|fatal)"|^(?!\{)/.test(line) && process.stderr.write(`[${app}] ${line}\n`) });
  try {
    const api = stack.apps.find((app) => app.kind === 'api')!;
    const pid = api.child.pid!;
    const exited = (code: number | null, signal: string | null) => process.stderr.write(`the api exited during the benchmark (code ${code}, signal ${signal})\n`);
    api.child.once('exit', exited);
    const recording = new Blob([new Uint8Array(toneWav(MEGABYTES * 1024 * 1024 - 64 * 1024))]);
    // One upload first, so what is loaded once (ffmpeg probing, the storage client) is in the baseline.
    const warm = new FormData();
    warm.append('file', recording, 'tone.wav');
    const warmed = await fetch(`${stack.apiUrl}/v1/moments`, { method: 'POST', body: warm });
    if (warmed.status !== 202) throw new Error(`the warm-up upload answered ${warmed.status}: ${await warmed.text()}`);
    global.gc?.();
    await new Promise((done) => setTimeout(done, 2000));

    const before = residentMb(pid);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, residentMb(pid))), 20);
    const started = performance.now();
    const answers = await Promise.allSettled(
      Array.from({ length: UPLOADS }, async () => {
        const body = new FormData();
        body.append('file', recording, 'tone.wav');
        const response = await fetch(`${stack.apiUrl}/v1/moments`, { method: 'POST', body });
        await response.arrayBuffer();
        return response.status;
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    peak = Math.max(peak, residentMb(pid));
    const highWaterMark = residentMb(pid, 'VmHWM');
    api.child.off('exit', exited);
    const counts: Record<string, number> = {};
    for (const answer of answers) {
      const outcome = answer.status === 'fulfilled' ? String(answer.value) : `failed: ${(answer.reason as Error).message}`;
      counts[outcome] = (counts[outcome] ?? 0) + 1;
    }

    const summary = {
      uploads: UPLOADS,
      upload_mb: round(recording.size / 1024 / 1024),
      statuses: counts,
      seconds: round(seconds),
      api_rss_mb: { before: round(before), peak: round(peak), rise: round(peak - before), rise_per_upload: round((peak - before) / UPLOADS), high_water_mark: round(highWaterMark) },
      machine: { cpus: cpus().length, node: process.version },
    };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    writeFileSync(resolve(ROOT, 'bench/uploads.results.json'), `${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    await stack.stop();
    await remove();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`benchmark failed: ${error.message}\n`);
  process.exit(1);
});
