import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { processTreeCpuMs } from './process-cpu';
import { analyzeAudio, closeAudioWorkers, composeBlueprint, measureLoudness, mixAndMaster, renderInstrumental, renderVocals, startFfmpegLauncher, stopFfmpegLauncher, uploadDemuxer } from '@mcm/audio';

/**
 * mixAndMaster alone on ~30 s stems (the phone fixture's preview): p50/min of wall time, the CPU of a mix (this
 * process and its ffmpeg runs) and the loudness and true peak of each result, so a faster mix is never bought with
 * a broken master.
 */
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const ROOT = resolve(__dirname, __dirname.includes(`${join('dist', 'bench')}`) ? '../..' : '..');
const INPUT = resolve(process.argv[2] ?? join(ROOT, 'test/fixtures/hum-phone.m4a'));
// The take is decoded as its extension's container, as an upload is decoded as its sniffed one.
const INPUT_FORMAT = uploadDemuxer(extname(INPUT).slice(1).toLowerCase()) ?? '';
if (!INPUT_FORMAT) throw new Error(`${INPUT}: give the take the extension of its container (.m4a, .wav, .mp3, .ogg, .webm, .flac …)`);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mcm-bench-mix-'));
  // ffmpeg runs as the apps run it.
  process.stderr.write(`${await startFfmpegLauncher()}\n`);
  try {
    const analysis = await analyzeAudio(INPUT, INPUT_FORMAT);
    const blueprint = composeBlueprint(analysis, { momentId: 'bench-mix', style: 'cinematic', outputKind: 'preview' });
    const instrumental = join(dir, 'instrumental.wav');
    const vocals = join(dir, 'vocals.wav');
    await Promise.all([renderInstrumental(blueprint, instrumental), renderVocals(INPUT, blueprint, analysis, vocals, { format: INPUT_FORMAT })]);
    const times: number[] = [];
    const cpu: number[] = [];
    const results: { lufs: number; tp: number }[] = [];
    for (let i = 0; i < RUNS + 1; i++) {
      const outPreviewMp3 = join(dir, `preview-${i}.mp3`);
      const cpuBefore = processTreeCpuMs(process.pid);
      const started = performance.now();
      await mixAndMaster({ blueprint, instrumental, vocals, outPreviewMp3, outMasterWav: join(dir, `master-${i}.wav`) });
      const elapsed = performance.now() - started;
      // The fork server counts a run's CPU once it has reaped it, a moment after the run's outputs close.
      await new Promise((resolveDelay) => setTimeout(resolveDelay, 50));
      const cpuMs = processTreeCpuMs(process.pid) - cpuBefore;
      // The first run warms the page cache and the ffmpeg binary; it is not counted.
      if (i === 0) continue;
      times.push(elapsed);
      cpu.push(cpuMs);
      const measured = await measureLoudness(outPreviewMp3, 'mp3');
      results.push({ lufs: measured.integrated_lufs, tp: measured.true_peak_dbtp });
    }
    times.sort((a, b) => a - b);
    cpu.sort((a, b) => a - b);
    const summary = {
      runs: RUNS,
      seconds_of_audio: Math.round(((blueprint.sections.reduce((sum, s) => sum + s.bars, 0) * 4 * 60) / blueprint.tempo_bpm) * 100) / 100,
      mix_ms: { p50: Math.round(times[Math.floor((times.length - 1) / 2)]), min: Math.round(times[0]), max: Math.round(times.at(-1)!) },
      cpu_ms_p50: cpu[Math.floor((cpu.length - 1) / 2)],
      preview_lufs: { min: Math.min(...results.map((r) => r.lufs)), max: Math.max(...results.map((r) => r.lufs)) },
      preview_true_peak_dbtp_max: Math.max(...results.map((r) => r.tp)),
    };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    await closeAudioWorkers();
    await stopFfmpegLauncher();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  process.stderr.write(`mix benchmark failed: ${error.message}\n`);
  process.exit(1);
});
