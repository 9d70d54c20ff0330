import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { blueprintDurationSeconds, type Blueprint } from '@mcm/pipeline';
import { analyzeAudio, closeAudioWorkers, closeVocalWorkers, composeBlueprint, ffmpegInput, mixAndMaster, probeAudio, renderInstrumental, renderVocals, runFfmpeg, uploadDemuxer } from '@mcm/audio';
import { synthesizeInstrumental } from '@mcm/audio/synth';

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
const INPUT = resolve(process.argv.find((arg, i) => i > 1 && !arg.startsWith('--')) ?? join(ROOT, 'test/fixtures/hum-phone.m4a'));
// The take is decoded as its extension's container, as an upload is decoded as its sniffed one.
const INPUT_FORMAT = uploadDemuxer(extname(INPUT).slice(1).toLowerCase()) ?? '';
if (!INPUT_FORMAT) throw new Error(`${INPUT}: give the take the extension of its container (.m4a, .wav, .mp3, .ogg, .webm, .flac …)`);

interface Row {
  step: string;
  audio_s: number;
  median_ms: number;
  min_ms: number;
}

async function time(step: string, audioSeconds: number, work: (run: number) => Promise<unknown> | unknown): Promise<Row> {
  const times: number[] = [];
  for (let run = 0; run <= RUNS; run++) {
    const started = performance.now();
    await work(run);
    // The first run warms the page cache, the ffmpeg binary and the worker threads; it is not counted.
    if (run > 0) times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { step, audio_s: audioSeconds, median_ms: times[Math.floor((times.length - 1) / 2)], min_ms: times[0] };
}

function table(rows: Row[]): string {
  const lines = ['| step | audio | median | × real time |', '|---|---|---|---|'];
  for (const row of rows) {
    const speed = (row.audio_s * 1000) / row.median_ms;
    lines.push(`| ${row.step} | ${row.audio_s.toFixed(1)} s | ${row.median_ms < 10 ? row.median_ms.toFixed(2) : Math.round(row.median_ms)} ms | ${speed >= 1000 ? Math.round(speed).toLocaleString('en-US') : speed.toFixed(1)}× |`);
  }
  return lines.join('\n');
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
    const synthOnly = (blueprint: Blueprint) => () => synthesizeInstrumental({ blueprint, beatsPerBar: 4, totalFrames: Math.round(blueprintDurationSeconds(blueprint) * 44_100), sampleRate: 44_100 });
    const instrumental = join(dir, 'instrumental.wav');
    const vocals = join(dir, 'vocals.wav');

    const rows: Row[] = [];
    rows.push(await time('decode (ffmpeg → 44.1 kHz f32 PCM)', take, () => runFfmpeg([...ffmpegInput(INPUT, INPUT_FORMAT), '-map', '0:a:0', '-ac', '2', '-ar', '44100', '-f', 'f32le', 'pipe:1'], { stdout: true })));
    rows.push(await time('analysis (decode, R128, YIN notes, tempo, key)', take, () => analyzeAudio(INPUT, INPUT_FORMAT)));
    rows.push(await time('compose (blueprint, preview)', previewSeconds, () => composeBlueprint(analysis, { momentId: 'bench-engine', style: 'cinematic', outputKind: 'preview' })));
    rows.push(await time('instrumental synthesis, preview (one core, in process)', previewSeconds, synthOnly(preview)));
    rows.push(await time('instrumental synthesis, song (one core, in process)', songSeconds, synthOnly(song)));
    rows.push(await time('renderInstrumental, preview (worker thread + WAV)', previewSeconds, () => renderInstrumental(preview, instrumental)));
    rows.push(await time('renderInstrumental, song (worker thread + WAV)', songSeconds, (run) => renderInstrumental(song, join(dir, `song-${run}.wav`))));
    await renderInstrumental(preview, instrumental);
    rows.push(await time('renderVocals, preview', previewSeconds, () => renderVocals(INPUT, preview, analysis, vocals, { format: INPUT_FORMAT })));
    rows.push(await time('mixAndMaster, preview (mix, master.wav, preview.mp3)', previewSeconds, (run) => mixAndMaster({ blueprint: preview, instrumental, vocals, outPreviewMp3: join(dir, `preview-${run}.mp3`), outMasterWav: join(dir, `master-${run}.wav`) })));

    const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
    const header = `${RUNS} runs each (median), ${INPUT.endsWith('hum-phone.m4a') ? 'test/fixtures/hum-phone.m4a' : INPUT} (${take.toFixed(1)} s), preview ${previewSeconds.toFixed(1)} s (cinematic), song ${songSeconds.toFixed(1)} s (synthwave); ${availableParallelism()} cores, ${cpu}, Node ${process.versions.node}.`;
    const output = `${header}\n\n${table(rows)}`;
    console.log(output);
    if (process.argv.includes('--write')) writeReadme(output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await Promise.all([closeAudioWorkers(), closeVocalWorkers()]);
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
    '× real time: seconds of audio per second of wall time, measured against the step\'s input for',
    'decode and analysis (the take) and against the audio it renders for the rest. "One core, in',
    'process" is the synthesiser alone; `renderInstrumental` adds the worker-thread hop and the WAV write.',
    'The aim is ≥ 50× real time for the instrumental on one core. `--write` refreshes this section.',
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

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
