import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { blueprintDurationSeconds, type Analysis } from '@mcm/pipeline';
import { analyzeAudio, closeAudioWorkers, composeBlueprint, ffmpegInput, mixAndMaster, probeAudio, renderInstrumental, renderVocals, runFfmpeg, uploadDemuxer } from '@mcm/audio';
import { renderScore } from '@mcm/audio/render/sampler';
import { BUNDLED_SOUNDFONTS, bundledSoundFontPath, DEFAULT_SOUNDFONT, loadSoundBank, type BundledSoundFont } from '@mcm/audio/render/soundfont';
import { arrange } from '@mcm/audio/score/arrange';

/**
 * Speed of each engine step as × real time (seconds of audio handled per second of wall time) on the
 * phone fixture: median of BENCH_RUNS runs after one warm-up. The audio a step is measured against is
 * its input for decode and analysis (the 12 s take) and its output for the rest (the rendered song).
 * With --write, the table replaces the "## Engine speed" section of bench/README.md.
 */
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'libs'))) dir = dirname(dir);
  return dir;
}

const ROOT = repoRoot();
// The take is the first argument that is neither a flag nor the font named after --probe-font.
const INPUT = resolve(process.argv.find((arg, i) => i > 1 && !arg.startsWith('--') && process.argv[i - 1] !== '--probe-font') ?? join(ROOT, 'test/fixtures/hum-phone.m4a'));
// The take is decoded as its extension's container, as an upload is decoded as its sniffed one.
const INPUT_FORMAT = uploadDemuxer(extname(INPUT).slice(1).toLowerCase()) ?? '';
if (!INPUT_FORMAT) throw new Error(`${INPUT}: give the take the extension of its container (.m4a, .wav, .mp3, .ogg, .webm, .flac …)`);

interface Row {
  step: string;
  audio_s: number;
  median_ms: number;
  /** CPU time of this process (all its threads, not child processes), where that is the step's cost. */
  cpu_ms?: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];

async function time(step: string, audioSeconds: number, work: (run: number) => unknown, options: { cpu?: boolean; warmUp?: boolean } = {}): Promise<Row> {
  const times: number[] = [];
  const cpu: number[] = [];
  const warmUp = options.warmUp ?? true;
  for (let run = warmUp ? 0 : 1; run <= RUNS; run++) {
    const started = performance.now();
    const usage = process.cpuUsage();
    await work(run);
    const used = process.cpuUsage(usage);
    // The first run warms the page cache, the ffmpeg binary and the worker threads; it is not counted.
    if (run > 0) {
      times.push(performance.now() - started);
      cpu.push((used.user + used.system) / 1000);
    }
  }
  return { step, audio_s: audioSeconds, median_ms: median(times), ...(options.cpu ? { cpu_ms: median(cpu) } : {}) };
}

const speed = (audioSeconds: number, ms: number) => {
  const value = (audioSeconds * 1000) / ms;
  return `${value >= 1000 ? Math.round(value).toLocaleString('en-US') : value.toFixed(1)}×`;
};
const millis = (ms: number) => `${ms < 10 ? ms.toFixed(2) : Math.round(ms)} ms`;

function table(rows: Row[]): string {
  const lines = ['| step | audio | median | × real time | on CPU time |', '|---|---|---|---|---|'];
  for (const row of rows) {
    const audio = row.audio_s > 0 ? `${row.audio_s.toFixed(1)} s` : '—';
    const realTime = row.audio_s > 0 ? speed(row.audio_s, row.median_ms) : '—';
    const onCpu = row.cpu_ms === undefined ? '—' : row.audio_s > 0 ? speed(row.audio_s, row.cpu_ms) : millis(row.cpu_ms);
    lines.push(`| ${row.step} | ${audio} | ${millis(row.median_ms)} | ${realTime} | ${onCpu} |`);
  }
  return lines.join('\n');
}

interface FontFigures {
  load_ms: number;
  load_cpu_ms: number;
  first_ms: number;
  first_cpu_ms: number;
  warm_ms: number;
  warm_cpu_ms: number;
}

/**
 * One font in a fresh process (so nothing is compiled or decoded yet): load it, render the preview's
 * Score once (the first render decodes the samples it plays), then RUNS warm renders.
 */
async function probeFont(font: BundledSoundFont, analysis: Analysis): Promise<FontFigures> {
  const clock = () => ({ wall: performance.now(), cpu: process.cpuUsage() });
  const since = (start: ReturnType<typeof clock>) => {
    const used = process.cpuUsage(start.cpu);
    return { wall: performance.now() - start.wall, cpu: (used.user + used.system) / 1000 };
  };
  let start = clock();
  const bank = await loadSoundBank(bundledSoundFontPath(font));
  const load = since(start);
  const blueprint = composeBlueprint(analysis, { momentId: 'bench-engine', style: 'cinematic', outputKind: 'preview' });
  const frames = Math.round(blueprintDurationSeconds(blueprint) * 44_100);
  const score = arrange(blueprint);
  start = clock();
  await renderScore(score, bank, frames, 44_100);
  const first = since(start);
  const warm: { wall: number; cpu: number }[] = [];
  for (let run = 0; run < RUNS; run++) {
    start = clock();
    await renderScore(score, bank, frames, 44_100);
    warm.push(since(start));
  }
  return {
    load_ms: load.wall,
    load_cpu_ms: load.cpu,
    first_ms: first.wall,
    first_cpu_ms: first.cpu,
    warm_ms: median(warm.map((run) => run.wall)),
    warm_cpu_ms: median(warm.map((run) => run.cpu)),
  };
}

function fontRows(font: BundledSoundFont, figures: FontFigures, previewSeconds: number): Row[] {
  const name = BUNDLED_SOUNDFONTS[font].replace(/\.sf3\.wasm$/, '');
  return [
    { step: `font load, ${name} (read + parse, fresh process)`, audio_s: 0, median_ms: figures.load_ms, cpu_ms: figures.load_cpu_ms },
    { step: `sampler first render, preview, ${name} (one core, in process)`, audio_s: previewSeconds, median_ms: figures.first_ms, cpu_ms: figures.first_cpu_ms },
    { step: `sampler warm render, preview, ${name} (one core, in process)`, audio_s: previewSeconds, median_ms: figures.warm_ms, cpu_ms: figures.warm_cpu_ms },
  ];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mcm-bench-engine-'));
  try {
    const take = (await probeAudio(INPUT, { format: INPUT_FORMAT })).duration_s;
    const analysis = await analyzeAudio(INPUT, INPUT_FORMAT);
    const preview = composeBlueprint(analysis, { momentId: 'bench-engine', style: 'cinematic', outputKind: 'preview' });
    const song = composeBlueprint(analysis, { momentId: 'bench-engine', style: 'synthwave', outputKind: 'song' });
    const previewSeconds = blueprintDurationSeconds(preview);
    const songSeconds = blueprintDurationSeconds(song);
    const instrumental = join(dir, 'instrumental.wav');
    const vocals = join(dir, 'vocals.wav');

    const rows: Row[] = [];
    rows.push(
      await time('decode (ffmpeg → 44.1 kHz f32 PCM)', take, () =>
        runFfmpeg([...ffmpegInput(INPUT, INPUT_FORMAT), '-map', '0:a:0', '-ac', '2', '-ar', '44100', '-f', 'f32le', 'pipe:1'], { stdout: true }),
      ),
    );
    rows.push(await time('analysis (decode, R128, YIN notes, tempo, key)', take, () => analyzeAudio(INPUT, INPUT_FORMAT)));
    rows.push(await time('compose (blueprint, preview)', previewSeconds, () => composeBlueprint(analysis, { momentId: 'bench-engine', style: 'cinematic', outputKind: 'preview' })));
    for (const font of Object.keys(BUNDLED_SOUNDFONTS) as BundledSoundFont[]) {
      const figures = JSON.parse(
        execFileSync(process.execPath, [__filename, '--probe-font', font, INPUT], { encoding: 'utf8', env: { ...process.env, BENCH_ANALYSIS: JSON.stringify(analysis) } }),
      ) as FontFigures;
      rows.push(...fontRows(font, figures, previewSeconds));
    }
    await closeAudioWorkers();
    rows.push(
      await time('renderInstrumental, preview, first after the pool starts (thread, font, WAV)', previewSeconds, () => closeAudioWorkers().then(() => renderInstrumental(preview, instrumental)), {
        warmUp: false,
      }),
    );
    rows.push(await time('renderInstrumental, preview (worker thread + WAV)', previewSeconds, () => renderInstrumental(preview, instrumental)));
    rows.push(await time('renderInstrumental, song (worker thread + WAV)', songSeconds, (run) => renderInstrumental(song, join(dir, `song-${run}.wav`))));
    await renderInstrumental(preview, instrumental);
    rows.push(await time('renderVocals, preview', previewSeconds, () => renderVocals(INPUT, preview, analysis, vocals, { format: INPUT_FORMAT })));
    rows.push(
      await time('mixAndMaster, preview (mix, master.wav, preview.mp3)', previewSeconds, (run) =>
        mixAndMaster({ blueprint: preview, instrumental, vocals, outPreviewMp3: join(dir, `preview-${run}.mp3`), outMasterWav: join(dir, `master-${run}.wav`) }),
      ),
    );

    const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
    const header = `${RUNS} runs each (median), ${INPUT.endsWith('hum-phone.m4a') ? 'test/fixtures/hum-phone.m4a' : INPUT} (${take.toFixed(1)} s), preview ${previewSeconds.toFixed(1)} s (cinematic), song ${songSeconds.toFixed(1)} s (synthwave); default font ${DEFAULT_SOUNDFONT}; ${availableParallelism()} cores, ${cpu}, load average ${loadavg()[0].toFixed(1)}, Node ${process.versions.node}.`;
    const output = `${header}\n\n${table(rows)}`;
    console.log(output);
    if (process.argv.includes('--write')) writeReadme(output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await closeAudioWorkers();
  }
}

/** Replaces (or appends) the "## Engine speed" section of bench/README.md, leaving the rest of the file alone. */
function writeReadme(measured: string): void {
  const file = join(ROOT, 'bench/README.md');
  const readme = readFileSync(file, 'utf8');
  const section = [
    '## Engine speed (`npm run bench:engine`)',
    '',
    '`bench/engine.ts` times each step of the music engine on the phone fixture and reports it as',
    "× real time: seconds of audio per second of wall time, measured against the step's input for",
    'decode and analysis (the take) and against the audio it renders for the rest. The sampler rows play',
    "the preview's Score through each bundled General MIDI font in a fresh process: the font's load, the",
    'first render (which decodes the Vorbis samples it plays) and warm renders. "On CPU time" divides by',
    "the process's CPU time instead of wall time, which holds up when other work shares the machine.",
    '`renderInstrumental` adds the worker thread (its font loaded as the thread starts) and the WAV write.',
    'The aim is ≥ 80× real time warm on one core for the preview and ≤ 1 s to load the font. `--write`',
    'refreshes this section.',
    '',
    measured,
    '',
  ].join('\n');
  const start = readme.search(/^## Engine speed/m);
  let next: string;
  if (start < 0) next = `${readme.trimEnd()}\n\n${section}`;
  else {
    const after = readme.slice(start + 1).search(/^## /m);
    next = readme.slice(0, start) + section + (after < 0 ? '' : `\n${readme.slice(start + 1 + after)}`);
  }
  writeFileSync(file, next);
}

async function probe(font: BundledSoundFont): Promise<void> {
  const analysis = JSON.parse(process.env.BENCH_ANALYSIS ?? 'null') as Analysis | null;
  if (!analysis) throw new Error('--probe-font runs under the bench, which passes the analysis');
  process.stdout.write(JSON.stringify(await probeFont(font, analysis)));
}

const probeAt = process.argv.indexOf('--probe-font');
(probeAt > 0 ? probe(process.argv[probeAt + 1] as BundledSoundFont) : main()).catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
