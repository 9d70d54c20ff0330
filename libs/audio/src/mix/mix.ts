import { open, readFile, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Blueprint } from '@mcm/pipeline';
import { AudioError } from '../audio-error';
import { STEM_FORMAT } from '../io/containers';
import { ffmpegInput, runFfmpeg } from '../io/ffmpeg';
import { blueprintFrames, RENDER_RATE } from '../render/instrumental';
import { integratedLoudness, parseEbur128 } from './loudness';
import { planarFloat, readWav16, type Wav16 } from '../io/wav';
import { waveformPeaks, type WaveformPeaks } from './peaks';
import { hookSpans } from '../score/form';

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
const LIMIT_DBFS = -2.3;
// The band of the backing the voice competes with, and the most of it ducking takes away (≈ 3 dB).
const DUCK_LOW_HZ = 300;
const DUCK_HIGH_HZ = 4000;
const MAX_DUCK_SHARE = 0.33;
// Where the voice sits over the band in the hooks, as mixed: the middle of the 0…+6 LU a lead vocal wants.
const VOICE_OVER_BAND_LU = 3;
const MAX_VOICE_MATCH_DB = 6;
const MIN_VOICE_MATCH_DB = -12;
// The master's true peak may rise this far under the limit: MP3 encoding moves peaks by up to ±0.3 dB (measured on every style).
const ENCODER_HEADROOM_DB = 0.3;
const MASTER_TRUE_PEAK_DBTP = MAX_TRUE_PEAK_DBTP - ENCODER_HEADROOM_DB;

/**
 * Mixes vocals over the instrumental (the instrumental ducks under the voice), shapes and fades it,
 * then masters to −14 LUFS with a limiter: master.wav (16-bit), preview.mp3 (192 kbps CBR) and,
 * when asked, waveform peaks of the master.
 *
 * The stems are read in process, where the voice is matched to the band on their PCM; the premix (see `premixOf`)
 * is measured for loudness in process and kept in memory; then gain and limiter take it into the master (metered as
 * it is written) and the MP3 (see `master`).
 */
export async function mixAndMaster(options: MixOptions): Promise<MixReport> {
  const { blueprint } = options;
  const frames = blueprintFrames(blueprint);
  const duration = frames / RENDER_RATE;
  const fade = Math.min(duration / 2, blueprint.mix?.fade_out_seconds ?? 2);
  const [band, voice] = await Promise.all([readStem(options.instrumental, options.signal), options.vocals ? readStem(options.vocals, options.signal) : null]);
  const matchDb = voice ? stemsMatchDb(blueprint, band, voice) : 0;
  // The premix stays in memory (about 10 MB for 30 s) and is piped into the master: no file between the passes.
  const premix = await premixOf(premixInput(band, voice), { options, frames, fade, matchDb });
  // Metered here, on the PCM in hand: ffmpeg's meter needs a 48 kHz resampler on a leg of its own, a third of the premix's time.
  const premixLufs = integratedLoudness({ interleaved: float32(premix), channelCount: 2 }, RENDER_RATE);
  if (premixLufs <= -69) throw new AudioError('AUDIO_ENGINE_FAILED', 'the mix is silent', false);
  let gain = TARGET_LUFS - premixLufs;
  let ceiling = LIMIT_DBFS;
  let report = await master(premix, options, gain, ceiling, frames);
  // The limiter takes back some loudness on dense mixes; one measured correction closes the gap.
  if (Math.abs(report.integrated_lufs - TARGET_LUFS) > 0.5 || report.true_peak_dbtp > MASTER_TRUE_PEAK_DBTP) {
    gain += TARGET_LUFS - report.integrated_lufs;
    if (report.true_peak_dbtp > MASTER_TRUE_PEAK_DBTP) ceiling -= report.true_peak_dbtp - MASTER_TRUE_PEAK_DBTP + 0.3;
    report = await master(premix, options, gain, ceiling, frames);
  }
  if (options.outPeaksJson) await writeFile(options.outPeaksJson, JSON.stringify(await masterPeaks(options.outMasterWav)));
  return {
    duration_ms: Math.round(duration * 1000),
    loudness_lufs: report.integrated_lufs,
    true_peak_dbtp: report.true_peak_dbtp,
  };
}

/** 32-bit float PCM as ffmpeg writes it, viewed in place (copied only when the bytes sit off a 4-byte boundary). */
function float32(pcm: Buffer): Float32Array {
  const aligned = pcm.byteOffset % 4 === 0 ? pcm : Buffer.from(pcm);
  return new Float32Array(aligned.buffer, aligned.byteOffset, Math.floor(aligned.length / 4));
}

/**
 * The premix's one input, 16-bit as the stems are: the band's two channels, then the voice's (cut or padded with
 * silence to the band's length, as the mix ends with the band), interleaved. One input, because ffmpeg reads each
 * input file on a thread of its own and hands every 1024-sample packet across: 25 ms of a 150 ms premix.
 */
function premixInput(band: Int16Array, voice: Int16Array | null): Buffer {
  if (!voice) return Buffer.from(band.buffer, band.byteOffset, band.byteLength);
  const frames = band.length / 2;
  const out = new Int16Array(frames * 4);
  const voiced = Math.min(frames, voice.length / 2);
  for (let i = 0; i < frames; i++) {
    out[4 * i] = band[2 * i];
    out[4 * i + 1] = band[2 * i + 1];
  }
  for (let i = 0; i < voiced; i++) {
    out[4 * i + 2] = voice[2 * i];
    out[4 * i + 3] = voice[2 * i + 1];
  }
  return Buffer.from(out.buffer);
}

/**
 * A stem's interleaved 16-bit stereo frames at the render rate. The pipeline's stems are read as they lie; any other
 * WAV is brought to that format by ffmpeg, whose forced WAV demuxer refuses what is not a WAV.
 */
async function readStem(file: string, signal?: AbortSignal): Promise<Int16Array> {
  const bytes = await readFile(file);
  let wav: Wav16 | null = null;
  try {
    wav = readWav16(bytes);
  } catch {
    // Not a 16-bit WAV: ffmpeg decides below whether it is a WAV at all.
  }
  if (wav?.sampleRate === RENDER_RATE && wav.channelCount === 2) return wav.samples;
  const { stdout } = await runFfmpeg(
    [...ffmpegInput(file, STEM_FORMAT), '-map', '0:a:0', '-af', `aresample=${RENDER_RATE},aformat=channel_layouts=stereo`, '-f', 's16le', '-c:a', 'pcm_s16le', 'pipe:1'],
    { stdout: true, signal },
  ).catch(refuseBadStem);
  const aligned = stdout.byteOffset % 2 === 0 ? stdout : Buffer.from(stdout);
  return new Int16Array(aligned.buffer, aligned.byteOffset, Math.floor(aligned.length / 2));
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
  const [band, voice] = await Promise.all([readStem(instrumental), readStem(vocals)]);
  return stemsMatchDb(blueprint, band, voice);
}

/** `voiceMatchDb` on stems in hand: each hook's frames are measured in process. */
function stemsMatchDb(blueprint: Blueprint, band: Int16Array, voice: Int16Array): number {
  const secondsPerBeat = 60 / blueprint.tempo_bpm;
  const hooks = hookSpans(blueprint).map((hook) => ({ from: Math.floor(hook.startBeat * secondsPerBeat * RENDER_RATE), to: Math.floor((hook.startBeat + hook.beats) * secondsPerBeat * RENDER_RATE) }));
  if (!hooks.length) return 0;
  const [voiceLufs, bandLufs] = [voice, band].map((stem) => hooks.map(({ from, to }) => integratedLoudness(planarFloat(stem, 2, from, to), RENDER_RATE)));
  const over = voiceLufs.map((lufs, index) => lufs - bandLufs[index]).filter((value) => Number.isFinite(value));
  if (!over.length) return 0;
  const match = VOICE_OVER_BAND_LU - over.reduce((sum, value) => sum + value, 0) / over.length;
  return Math.min(MAX_VOICE_MATCH_DB, Math.max(MIN_VOICE_MATCH_DB, match));
}

interface PremixPlan {
  options: MixOptions;
  frames: number;
  fade: number;
  matchDb: number;
}

/** Premixes being made in this process: see `premixOf`. */
let premixesInFlight = 0;
// Every filter of the premix forgets its past within this long (the compressors' envelopes fall by e^-60 in 3 s), so
// a second half started this much early is the same, sample for sample, from its first frame on.
const PREMIX_PRE_ROLL_FRAMES = 3 * RENDER_RATE;
// Shorter premixes are not worth a second ffmpeg.
const PREMIX_SPLIT_MIN_FRAMES = 10 * RENDER_RATE;

/**
 * The premix, from the interleaved stems. Its filters run one after another on one core, and the master cannot start
 * before the premix is measured: when this is the only premix in the process, its two halves are made side by side,
 * the second started PREMIX_PRE_ROLL_FRAMES early and its lead-in dropped (0.15 → 0.11 s for 30 s); beside others it
 * is one run. Both give the same samples.
 */
async function premixOf(input: Buffer, plan: PremixPlan): Promise<Buffer> {
  const channelCount = plan.options.vocals ? 4 : 2;
  const inputFrames = input.length / (2 * channelCount);
  const split = premixesInFlight === 0 && inputFrames === plan.frames && plan.frames >= PREMIX_SPLIT_MIN_FRAMES;
  premixesInFlight++;
  try {
    if (!split) return await premixSpan(input, channelCount, plan, 0, plan.frames);
    const middle = Math.floor(plan.frames / 2);
    const lead = middle - PREMIX_PRE_ROLL_FRAMES;
    const bytesPerFrame = 2 * channelCount;
    const failed = new AbortController();
    const signal = plan.options.signal ? AbortSignal.any([plan.options.signal, failed.signal]) : failed.signal;
    const half = (from: number, to: number) =>
      premixSpan(input.subarray(from * bytesPerFrame, to * bytesPerFrame), channelCount, { ...plan, options: { ...plan.options, signal } }, from, to).catch((error: unknown) => {
        failed.abort();
        throw error;
      });
    const [first, second] = await Promise.all([half(0, middle), half(lead, plan.frames)]);
    return Buffer.concat([first, second.subarray((middle - lead) * 8)]);
  } finally {
    premixesInFlight--;
  }
}

/** One ffmpeg run of the premix over the frames `from`…`to` of the mix, whose input starts at `from`. */
async function premixSpan(input: Buffer, channelCount: number, plan: PremixPlan, from: number, to: number): Promise<Buffer> {
  const { stdout } = await runFfmpeg(
    [
      ...ffmpegInput('pipe:0', 's16le', ['-ar', String(RENDER_RATE), '-ac', String(channelCount)]),
      '-filter_complex',
      `${mixGraph(plan, from, to)};[mix]aformat=sample_rates=${RENDER_RATE}[premix]`,
      '-map',
      '[premix]',
      '-f',
      'f32le',
      '-c:a',
      'pcm_f32le',
      'pipe:1',
    ],
    { input: Readable.from([input]), stdout: true, signal: plan.options.signal },
  );
  return stdout;
}

/** The premix's graph over the frames `from`…`to`: its fade, padding and trim are placed as in the whole mix. */
function mixGraph({ options, frames, fade, matchDb }: PremixPlan, from: number, to: number): string {
  const duration = frames / RENDER_RATE;
  const shape = [
    'equalizer=f=250:t=q:w=1.2:g=-1.5',
    'equalizer=f=3500:t=q:w=1:g=1.5',
    // A gentle tilt of the whole mix: the phone hum's fundamental sits under 200 Hz, the sampled instruments thin out above 4 kHz.
    'bass=g=-3:f=150:t=q:w=0.7',
    'treble=g=4:f=4000:t=q:w=0.7',
    `afade=t=out:st=${(duration - fade - from / RENDER_RATE).toFixed(4)}:d=${fade.toFixed(4)}`,
    `apad=whole_len=${to - from}`,
    `atrim=end_sample=${to - from}`,
  ].join(',');
  // The band's glue compressor sits before the voice joins, so the voice never pumps the band outside the ducked 300 Hz–4 kHz.
  const compressed = `aresample=${RENDER_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo,acompressor=threshold=0.2:ratio=2:attack=15:release=200:makeup=1`;
  if (!options.vocals) return `[0:a]${compressed},${shape}[mix]`;
  const vocalGain = options.blueprint.mix?.vocal_gain_db ?? 0;
  const ducking = options.blueprint.mix?.ducking ?? 0.5;
  // Share of the band taken out under full compression: 0.33 is −3.5 dB at the blueprint's default ducking.
  // amerge negotiates no formats of its own: every input it sums is pinned to the same one.
  const STEREO = `aformat=sample_fmts=fltp:sample_rates=${RENDER_RATE}:channel_layouts=stereo`;
  const depth = Math.min(MAX_DUCK_SHARE, Math.max(0, ducking) * 2 * MAX_DUCK_SHARE).toFixed(3);
  return [
    // The input's first two channels are the band, the other two the voice.
    `[0:a]asplit=2[bandstem][voicestem]`,
    `[bandstem]pan=stereo|c0=c0|c1=c1,${compressed}[inst]`,
    // The ducking key is the voice before it is matched to the band, so the dip's depth does not follow the style.
    `[voicestem]pan=stereo|c0=c2|c1=c3,aresample=${RENDER_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo,volume=${vocalGain}dB,asplit=2[key][unmatched]`,
    `[unmatched]volume=${matchDb.toFixed(2)}dB[voice]`,
    // Only the voice's band (300 Hz–4 kHz) of the backing dips while the user sings: the compressor's gain g,
    // keyed by the gated vocal stem, is applied as inst − depth·(1 − g)·band, so the dip never exceeds about 3 dB.
    `[inst]${STEREO},asplit=2[dry][band]`,
    `[band]highpass=f=${DUCK_LOW_HZ}:p=2,lowpass=f=${DUCK_HIGH_HZ}:p=2,${STEREO},asplit=2[bandkeep][bandduck]`,
    `[bandduck][key]sidechaincompress=threshold=0.01:ratio=20:attack=15:release=100:makeup=1,${STEREO}[bandducked]`,
    `[bandkeep][bandducked]amerge=inputs=2,pan=stereo|c0=${depth}*c2-${depth}*c0|c1=${depth}*c3-${depth}*c1,${STEREO}[dip]`,
    `[dry][dip]amerge=inputs=2,pan=stereo|c0=c0+c2|c1=c1+c3[ducked]`,
    `[ducked][voice]amix=inputs=2:duration=first:dropout_transition=0,volume=2,${shape}[mix]`,
  ].join(';');
}

interface Mastered {
  integrated_lufs: number;
  true_peak_dbtp: number;
}

/** Masters being made in this process: see `master`. */
let mastersInFlight = 0;

/**
 * Gain and limiter over the premix into the WAV master, metered on the way out, and into the MP3. The MP3 encoder
 * is the slowest step of the master and the meter the next (each about 0.1 s for 30 s), and one ffmpeg run does
 * them one after the other: when this is the only master in the process they are two runs side by side on the same
 * premix, which takes the second core (about 0.12 s sooner) for a second pass of the limiter (20–30 ms of CPU); beside
 * other masters, where the cores are busy anyway, it is one run. Both ways give the same files: the MP3 encodes
 * exactly the master's samples, and MASTER_TRUE_PEAK_DBTP leaves the encoder its overshoot.
 */
async function master(premix: Buffer, options: MixOptions, gainDb: number, ceilingDb: number, frames: number): Promise<Mastered> {
  const limit = 10 ** (ceilingDb / 20);
  const chain = `volume=${gainDb.toFixed(2)}dB,alimiter=limit=${limit.toFixed(4)}:attack=5:release=80:level=false,atrim=end_sample=${frames}`;
  const input = ffmpegInput('pipe:0', 'f32le', ['-ar', String(RENDER_RATE), '-ac', '2']);
  const wav = ['-map', '[wav]', '-c:a', 'pcm_s16le', '-y', options.outMasterWav];
  // At 192 kbps CBR, LAME's quality level 7 with plain stereo stays clean for a preview and encodes twice as fast.
  // A file, so the MP3 gets its Xing/LAME header (exact length, gapless padding).
  const mp3 = ['-map', '[mp3]', '-c:a', 'libmp3lame', '-b:a', '192k', '-compression_level', '7', '-joint_stereo', '0', '-y', '-f', 'mp3', options.outPreviewMp3];
  const meter = '[meter]aresample=48000,ebur128=peak=true,anullsink';
  mastersInFlight++;
  let stderr: string;
  try {
    if (mastersInFlight > 1) {
      ({ stderr } = await runFfmpeg([...input, '-filter_complex', `[0:a]${chain},asplit=3[wav][mp3][meter];${meter}`, ...wav, ...mp3], { input: Readable.from([premix]), signal: options.signal }));
    } else {
      // When one run fails, the other is stopped: the mix fails with the first error.
      const failed = new AbortController();
      const signal = options.signal ? AbortSignal.any([options.signal, failed.signal]) : failed.signal;
      const run = (args: string[]) =>
        runFfmpeg([...input, ...args], { input: Readable.from([premix]), signal }).catch((error: unknown) => {
          failed.abort();
          throw error;
        });
      [{ stderr }] = await Promise.all([run(['-filter_complex', `[0:a]${chain},asplit=2[wav][meter];${meter}`, ...wav]), run(['-filter_complex', `[0:a]${chain}[mp3]`, ...mp3])]);
    }
  } finally {
    mastersInFlight--;
  }
  const written = await wavFrames(options.outMasterWav);
  if (written !== frames) throw new AudioError('AUDIO_ENGINE_FAILED', `the master has ${written} frames, the blueprint ${frames}`, true);
  const loudness = parseEbur128(stderr);
  return { integrated_lufs: loudness.integrated_lufs, true_peak_dbtp: loudness.true_peak_dbtp };
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
