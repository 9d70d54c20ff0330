import { open, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { Blueprint } from '@mcm/pipeline';
import { AudioError } from '../audio-error';
import { STEM_FORMAT } from '../io/containers';
import { ffmpegInput, runFfmpeg } from '../io/ffmpeg';
import { blueprintFrames, RENDER_RATE } from '../render/instrumental';
import { parseEbur128 } from './loudness';
import { waveformPeaks, type WaveformPeaks } from './peaks';
import { makeWorkDirectory } from '../io/work-directory';
import { hookSpans } from '../score/form';
import { spanLoudness } from './balance';

export interface MixOptions {
  blueprint: Blueprint;
  instrumental: string;
  vocals?: string | null;
  outPreviewMp3: string;
  outMasterWav: string;
  /** Where to write the master's waveform peaks (audiowaveform JSON); skipped when absent. */
  outPeaksJson?: string;
  /** Kills every ffmpeg of the mix when aborted (the caller went away); the mix rejects with AUDIO_ABORTED. */
  signal?: AbortSignal;
}

export interface MixReport {
  duration_ms: number;
  loudness_lufs: number;
  true_peak_dbtp: number;
}

export const TARGET_LUFS = -14;
export const MAX_TRUE_PEAK_DBTP = -1;
// The limiter's ceiling sits under the true-peak limit so inter-sample peaks and MP3 encoding stay below −1 dBTP.
const LIMIT_DBFS = -2;
// The band of the backing the voice competes with, and the most of it ducking takes away (≈ 3 dB).
const DUCK_LOW_HZ = 300;
const DUCK_HIGH_HZ = 4000;
const MAX_DUCK_SHARE = 0.33;
// Where the voice sits over the band in the hooks, as mixed: the middle of the 0…+6 LU a lead vocal wants.
const VOICE_OVER_BAND_LU = 3;
const MAX_VOICE_MATCH_DB = 6;
const MIN_VOICE_MATCH_DB = -12;
// LAME's encoder delay (576) plus the decoder's 529-sample filterbank delay, as recorded in the LAME tag of the file leg.
const LAME_DELAY_SAMPLES = 1105;

/**
 * Mixes vocals over the instrumental (the instrumental ducks under the voice), shapes and fades it,
 * then masters to −14 LUFS with a limiter: master.wav (16-bit), preview.mp3 (192 kbps CBR) and,
 * when asked, waveform peaks of the master.
 *
 * Two ffmpeg passes: the premix, measured for loudness as it is written; then gain and limiter into
 * the master and the MP3 at once, the MP3 measured by a second process while it is being encoded.
 */
export async function mixAndMaster(options: MixOptions): Promise<MixReport> {
  const { blueprint } = options;
  const frames = blueprintFrames(blueprint);
  const duration = frames / RENDER_RATE;
  const fade = Math.min(duration / 2, blueprint.mix?.fade_out_seconds ?? 2);
  const work = await makeWorkDirectory('mix');
  try {
    const premix = path.join(work, 'premix.f32');
    const matchDb = options.vocals ? await voiceMatchDb(blueprint, options.instrumental, options.vocals).catch(refuseBadStem) : 0;
    const { stderr } = await runFfmpeg(
      [
        ...mixInputs(options),
        // ebur128 takes 48 kHz only: its resampler is pinned to the meter's leg, else format negotiation moves the whole graph to 48 kHz.
        '-filter_complex',
        `${mixGraph(options, frames, fade, matchDb)};[mix]aformat=sample_rates=${RENDER_RATE},asplit=2[premix][measure];[measure]aresample=48000,ebur128,anullsink`,
        '-map',
        '[premix]',
        '-f',
        'f32le',
        '-c:a',
        'pcm_f32le',
        '-y',
        premix,
      ],
      { signal: options.signal },
    ).catch(refuseBadStem);
    const measured = parseEbur128(stderr);
    if (measured.integrated_lufs <= -69) throw new AudioError('AUDIO_ENGINE_FAILED', 'the mix is silent', false);
    let gain = TARGET_LUFS - measured.integrated_lufs;
    let ceiling = LIMIT_DBFS;
    let report = await master(premix, options, gain, ceiling, frames);
    // The limiter takes back some loudness on dense mixes; one measured correction closes the gap.
    const peak = Math.max(report.true_peak_dbtp, report.master_true_peak_dbtp);
    if (Math.abs(report.integrated_lufs - TARGET_LUFS) > 0.5 || peak > MAX_TRUE_PEAK_DBTP) {
      gain += TARGET_LUFS - report.integrated_lufs;
      if (peak > MAX_TRUE_PEAK_DBTP) ceiling -= peak - MAX_TRUE_PEAK_DBTP + 0.3;
      report = await master(premix, options, gain, ceiling, frames);
    }
    if (options.outPeaksJson) await writeFile(options.outPeaksJson, JSON.stringify(await masterPeaks(options.outMasterWav)));
    return {
      duration_ms: Math.round(duration * 1000),
      loudness_lufs: report.integrated_lufs,
      true_peak_dbtp: report.true_peak_dbtp,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function mixInputs(options: MixOptions): string[] {
  const instrumental = ffmpegInput(options.instrumental, STEM_FORMAT);
  return options.vocals ? [...instrumental, ...ffmpegInput(options.vocals, STEM_FORMAT)] : instrumental;
}

/** The forced WAV demuxer refused a stem: the caller's input is wrong, so running again cannot help. */
function refuseBadStem(error: unknown): never {
  if (error instanceof AudioError && /Invalid data found when processing input/.test(error.message)) {
    throw new AudioError('AUDIO_UNDECODABLE', 'a stem is not a WAV file', false);
  }
  throw error;
}

/**
 * The gain that puts the vocal stem VOICE_OVER_BAND_LU over the instrumental in the hooks (EBU R128 over each
 * hook, averaged), so every style's band gets the same lead vocal. The blueprint's `vocal_gain_db` comes on top.
 */
export async function voiceMatchDb(blueprint: Blueprint, instrumental: string, vocals: string): Promise<number> {
  const secondsPerBeat = 60 / blueprint.tempo_bpm;
  const hooks = hookSpans(blueprint).map((hook) => ({ from_s: hook.startBeat * secondsPerBeat, to_s: (hook.startBeat + hook.beats) * secondsPerBeat }));
  if (!hooks.length) return 0;
  const [voice, band] = await Promise.all([spanLoudness(vocals, STEM_FORMAT, hooks), spanLoudness(instrumental, STEM_FORMAT, hooks)]);
  const over = voice.map((lufs, index) => lufs - band[index]).filter((value) => Number.isFinite(value));
  if (!over.length) return 0;
  const match = VOICE_OVER_BAND_LU - over.reduce((sum, value) => sum + value, 0) / over.length;
  return Math.min(MAX_VOICE_MATCH_DB, Math.max(MIN_VOICE_MATCH_DB, match));
}

function mixGraph(options: MixOptions, frames: number, fade: number, matchDb: number): string {
  const duration = frames / RENDER_RATE;
  const shape = [
    'equalizer=f=250:t=q:w=1.2:g=-1.5',
    'equalizer=f=3500:t=q:w=1:g=1.5',
    // A gentle tilt of the whole mix: the phone hum's fundamental sits under 200 Hz, the sampled instruments thin out above 4 kHz.
    'bass=g=-3:f=150:t=q:w=0.7',
    'treble=g=4:f=4000:t=q:w=0.7',
    `afade=t=out:st=${(duration - fade).toFixed(4)}:d=${fade.toFixed(4)}`,
    `apad=whole_len=${frames}`,
    `atrim=end_sample=${frames}`,
  ].join(',');
  // The band's glue compressor sits before the voice joins, so the voice never pumps the band outside the ducked 300 Hz–4 kHz.
  const instrumental = `[0:a]aresample=${RENDER_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo,acompressor=threshold=0.2:ratio=2:attack=15:release=200:makeup=1`;
  if (!options.vocals) return `${instrumental},${shape}[mix]`;
  const vocalGain = options.blueprint.mix?.vocal_gain_db ?? 0;
  const ducking = options.blueprint.mix?.ducking ?? 0.5;
  // Share of the band taken out under full compression: 0.33 is −3.5 dB at the blueprint's default ducking.
  // amerge negotiates no formats of its own: every input it sums is pinned to the same one.
  const STEREO = `aformat=sample_fmts=fltp:sample_rates=${RENDER_RATE}:channel_layouts=stereo`;
  const depth = Math.min(MAX_DUCK_SHARE, Math.max(0, ducking) * 2 * MAX_DUCK_SHARE).toFixed(3);
  return [
    `${instrumental}[inst]`,
    // The ducking key is the voice before it is matched to the band, so the dip's depth does not follow the style.
    `[1:a]aresample=${RENDER_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo,volume=${vocalGain}dB,asplit=2[key][unmatched]`,
    `[unmatched]volume=${matchDb.toFixed(2)}dB[voice]`,
    // Only the voice's band (300 Hz–4 kHz) of the backing dips while the user sings: the compressor's gain g,
    // keyed by the gated vocal stem, is applied as inst − depth·(1 − g)·band, so the dip never exceeds about 3 dB.
    `[inst]${STEREO},asplit=2[dry][band]`,
    `[band]highpass=f=${DUCK_LOW_HZ}:p=2,lowpass=f=${DUCK_HIGH_HZ}:p=2,${STEREO},asplit=2[bandkeep][bandduck]`,
    `[bandduck][key]sidechaincompress=threshold=0.01:ratio=20:attack=15:release=300:makeup=1,${STEREO}[bandducked]`,
    `[bandkeep][bandducked]amerge=inputs=2,pan=stereo|c0=${depth}*c2-${depth}*c0|c1=${depth}*c3-${depth}*c1,${STEREO}[dip]`,
    `[dry][dip]amerge=inputs=2,pan=stereo|c0=c0+c2|c1=c1+c3[ducked]`,
    `[ducked][voice]amix=inputs=2:duration=first:dropout_transition=0,volume=2,${shape}[mix]`,
  ].join(';');
}

interface Mastered {
  integrated_lufs: number;
  /** The preview's, as a player measures the MP3. */
  true_peak_dbtp: number;
  master_true_peak_dbtp: number;
}

async function master(premix: string, options: MixOptions, gainDb: number, ceilingDb: number, frames: number): Promise<Mastered> {
  const limit = 10 ** (ceilingDb / 20);
  const chain = `volume=${gainDb.toFixed(2)}dB,alimiter=limit=${limit.toFixed(4)}:attack=5:release=80:level=false,atrim=end_sample=${frames}`;
  const encoded = new PassThrough();
  // The MP3 is verified as it comes out of the encoder (the tee's second leg), not re-read afterwards.
  const [masterRun, verified] = await Promise.all([
    runFfmpeg(
      [
        ...ffmpegInput(premix, 'f32le', ['-ar', String(RENDER_RATE), '-ac', '2']),
        // The WAV master is metered too: its inter-sample peaks can rise above the MP3's.
        '-filter_complex',
        `[0:a]${chain},asplit=3[wav][mp3][meter];[meter]aresample=48000,ebur128=peak=true,anullsink`,
        '-map',
        '[wav]',
        '-c:a',
        'pcm_s16le',
        '-y',
        options.outMasterWav,
        // At 192 kbps CBR, LAME's quality level 7 with plain stereo stays clean for a preview and encodes twice as fast.
        '-map',
        '[mp3]',
        '-c:a',
        'libmp3lame',
        '-b:a',
        '192k',
        '-compression_level',
        '7',
        '-joint_stereo',
        '0',
        // The file leg is seekable, so it gets its Xing/LAME header (exact length, gapless padding); the pipe leg feeds the meter.
        '-y',
        '-f',
        'tee',
        `[f=mp3]${teePath(options.outPreviewMp3)}|[f=mp3]pipe:1`,
      ],
      { output: encoded, signal: options.signal },
    ),
    // The pipe leg has no LAME tag, so the decoder keeps the encoder delay and padding: cut them as a player would.
    runFfmpeg(['-nostats', ...ffmpegInput('pipe:0', 'mp3'), '-af', `atrim=start_sample=${LAME_DELAY_SAMPLES}:end_sample=${LAME_DELAY_SAMPLES + frames},ebur128=peak=true`, '-f', 'null', '-'], {
      input: encoded,
      signal: options.signal,
    }),
  ]);
  const written = await wavFrames(options.outMasterWav);
  if (written !== frames) throw new AudioError('AUDIO_ENGINE_FAILED', `the master has ${written} frames, the blueprint ${frames}`, true);
  const loudness = parseEbur128(verified.stderr);
  return { integrated_lufs: loudness.integrated_lufs, true_peak_dbtp: loudness.true_peak_dbtp, master_true_peak_dbtp: parseEbur128(masterRun.stderr).true_peak_dbtp };
}

/** Escapes the characters the tee muxer's slave syntax gives meaning to. */
function teePath(file: string): string {
  return file.replace(/[\\|[\]:]/g, (character) => `\\${character}`);
}

/** Where the samples of a WAV written by ffmpeg start and how many bytes they take, from its chunk list. */
function wavDataChunk(header: Buffer): { offset: number; bytes: number } | null {
  for (let offset = 12; offset + 8 <= header.length;) {
    const size = header.readUInt32LE(offset + 4);
    if (header.toString('ascii', offset, offset + 4) === 'data') return { offset: offset + 8, bytes: size };
    offset += 8 + size + (size % 2);
  }
  return null;
}

/** Frame count of the 16-bit stereo master, read from its header alone. */
async function wavFrames(file: string): Promise<number> {
  const handle = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(512), 0, 512, 0);
    return (wavDataChunk(buffer.subarray(0, bytesRead))?.bytes ?? 0) / 4;
  } finally {
    await handle.close();
  }
}

async function masterPeaks(file: string): Promise<WaveformPeaks> {
  const wav = await readFile(file);
  const chunk = wavDataChunk(wav.subarray(0, 512));
  if (!chunk) throw new AudioError('AUDIO_ENGINE_FAILED', 'the master has no data chunk', true);
  // A fresh copy: the data chunk's offset need not be 2-byte aligned inside the file buffer.
  const pcm = new Int16Array(wav.buffer.slice(wav.byteOffset + chunk.offset, wav.byteOffset + chunk.offset + chunk.bytes));
  return waveformPeaks(pcm, 2, RENDER_RATE);
}
