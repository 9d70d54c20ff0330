import { writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Analysis, Blueprint } from '@mcm/pipeline';
import { AudioError } from '../audio-error';
import { ffmpegHasFilter, ffmpegInput, runFfmpeg } from '../io/ffmpeg';
import { parseKey, scaleOf, type MusicalKey } from '../analysis/harmony';
import { blueprintFrames, RENDER_RATE } from './instrumental';
import { hookSpans, scoreSections } from '../score/form';
import { notePitchesInWorker } from '../dsp.pool';
import type { NotePitchTask } from '../dsp.worker';
import { encodeWav16 } from '../io/wav';

const VOCAL_TARGET_LUFS = -18;
// After the chain the produced voice is lifted so it sits over the band in the hooks, as a lead vocal does.
const LEAD_LIFT_DB = 8;
// Spoken lyrics sit a little under the sung hook so the user's own voice stays the lead.
const SPEECH_TARGET_LUFS = -20;
// Shorter than this before the voice is too little noise to measure; the denoiser then stays light.
const NOISE_PROFILE_MIN_SECONDS = 0.1;
// afftdn's floor is a per-band level: a few dB over the noise's RMS puts a hiss band under it.
const NOISE_FLOOR_MARGIN_DB = 4;
// −20 dBFS, a few dB under the −18 LUFS voice: the phone take's breath and residual hiss between phrases stay under it (0.05 left them 11 dB under the voice).
const GATE_THRESHOLD = 0.1;
const FADE_IN_SECONDS = 0.02;
const FADE_OUT_SECONDS = 0.15;
// The pitch tracker works on a band-limited 8 kHz copy, as the analysis does.
const PITCH_RATE = 8_000;

export interface VocalOptions {
  /** The demuxer of the user's take: the container it was sniffed as when uploaded. */
  format: string;
  /** A rendition of the blueprint's lyrics (ElevenLabs text-to-speech) and its format; spoken over the verse when given. */
  speech?: { path: string; format: string } | null;
}

export interface VocalReport {
  duration_s: number;
  /** Start of each placement of the user's clip, in beats. */
  hook_beats: number[];
  /** Per detected note: the correction applied, in cents (NaN where the note had no stable pitch). */
  corrections_cents: number[];
  /** Start of the spoken lyrics, in beats, when a speech rendition was given. */
  speech_beat: number | null;
}

interface SectionSpan {
  index: number;
  startBeat: number;
  beats: number;
}

function sectionSpans(blueprint: Blueprint): SectionSpan[] {
  return scoreSections(blueprint).map(({ index, startBeat, beats }) => ({ index, startBeat, beats }));
}

/** The sections the user's clip is sung over, as the Score's form decides them. */
export function hookSections(blueprint: Blueprint): SectionSpan[] {
  return hookSpans(blueprint).map(({ index, startBeat, beats }) => ({ index, startBeat, beats }));
}

/** Beat where the voice first enters: the start of the first hook section. */
export function vocalEntryBeat(blueprint: Blueprint): number {
  return hookSections(blueprint)[0]?.startBeat ?? 0;
}

/** Where spoken lyrics go: the last section before the first hook that has no vocals (the verse), else the first hook. */
export function speechSection(blueprint: Blueprint): SectionSpan {
  const hooks = hookSections(blueprint);
  const first = hooks[0];
  const before = sectionSpans(blueprint).filter((span) => span.startBeat < (first?.startBeat ?? 0));
  const verse = before.filter((span) => /verse/i.test(blueprint.sections[span.index].name)).at(-1) ?? before.at(-1);
  return verse ?? first;
}

/** The scale tone nearest to a fractional MIDI pitch (ties go down). */
export function nearestScaleTone(midi: number, key: MusicalKey): number {
  const scale = new Set(scaleOf(key));
  let best = Math.round(midi);
  let bestDistance = Infinity;
  for (let candidate = Math.floor(midi) - 2; candidate <= Math.ceil(midi) + 2; candidate++) {
    if (!scale.has(((candidate % 12) + 12) % 12)) continue;
    const distance = Math.abs(candidate - midi);
    if (distance < bestDistance - 1e-9) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

async function measureNotePitches(input: string, format: string, notes: NotePitchTask['notes']): Promise<number[]> {
  if (notes.length === 0) return [];
  const { stdout } = await runFfmpeg([...ffmpegInput(input, format), '-map', '0:a:0', '-af', 'highpass=f=70,lowpass=f=1000', '-ac', '1', '-ar', String(PITCH_RATE), '-f', 'f32le', 'pipe:1'], {
    stdout: true,
    failureCode: 'AUDIO_UNDECODABLE',
    failureRetryable: false,
  });
  const pcm = new Float32Array(stdout.buffer.slice(stdout.byteOffset, stdout.byteOffset + (stdout.length - (stdout.length % 4))));
  return notePitchesInWorker({ pcm, sampleRate: PITCH_RATE, notes });
}

/** RMS level (dBFS, after the take's gain) of the take before the voice starts, or null when too short or silent. */
async function noiseFloorDb(input: string, format: string, until_s: number, gainDb: number): Promise<number | null> {
  if (until_s < NOISE_PROFILE_MIN_SECONDS) return null;
  // One channel, so its RMS is the overall one (astats' selective options are newer than the bundled ffmpeg).
  const { stderr } = await runFfmpeg(['-nostats', ...ffmpegInput(input, format), '-map', '0:a:0', '-af', `atrim=end=${until_s.toFixed(3)},volume=${gainDb.toFixed(2)}dB,highpass=f=80,aformat=channel_layouts=mono,astats`, '-f', 'null', '-']);
  const level = Number(/RMS level dB: (-?[\d.]+|-inf)/.exec(stderr)?.[1]);
  return Number.isFinite(level) && level > -90 ? level : null;
}

/**
 * rubberband pitch ratios for each note, switched by asendcmd at the note's onset (in seconds of the
 * trimmed clip) and held through the gap that follows, so one continuous pass needs no splices.
 */
function correctionCommands(notes: Analysis['notes'], pitches: number[], key: MusicalKey, clipStart: number): { commands: string; cents: number[] } {
  const cents: number[] = [];
  const entries: string[] = [];
  notes.forEach((note, index) => {
    const pitch = pitches[index];
    if (!Number.isFinite(pitch)) {
      cents.push(NaN);
      return;
    }
    const shift = nearestScaleTone(pitch, key) - pitch;
    cents.push(Math.round(shift * 1000) / 10);
    // A few milliseconds early, so the new ratio is in place when the note's attack reaches the shifter.
    const at = Math.max(0, note.onset_s - clipStart - 0.02);
    entries.push(`${at.toFixed(3)} rubberband pitch ${(2 ** (shift / 12)).toFixed(6)}`);
  });
  return { commands: entries.join(';'), cents };
}

async function decodeStereo(input: string[], filters: string[], stream?: Readable): Promise<Float32Array> {
  const { stdout } = await runFfmpeg([...input, '-map', '0:a:0', '-af', filters.join(','), '-ac', '2', '-f', 'f32le', 'pipe:1'], {
    stdout: true,
    input: stream,
  });
  const frames = Math.floor(stdout.length / 8);
  return new Float32Array(stdout.buffer.slice(stdout.byteOffset, stdout.byteOffset + frames * 8));
}

/**
 * The produced voice, one graph: rumble cut, sibilance tamed, levels held, presence lifted, and a short
 * slap-and-room echo under the dry voice so it sits in the band rather than on top of it.
 */
function vocalChain(): string {
  return [
    'highpass=f=100:p=2',
    ...(ffmpegHasFilter('deesser') ? ['deesser=i=0.4:m=0.5:f=0.5'] : []),
    'acompressor=threshold=0.1:ratio=3:attack=8:release=120:makeup=2.5:knee=3',
    'equalizer=f=250:t=q:w=1:g=-2',
    'equalizer=f=3500:t=q:w=1.2:g=3',
    'equalizer=f=10000:t=h:w=0.7:g=2',
    // aecho sums the dry voice with its repeats, so the send needs no split (the bundled ffmpeg's amix cannot weigh without normalising).
    'aecho=in_gain=1:out_gain=0.85:delays=90|170|260:decays=0.3|0.2|0.12',
  ].join(',');
}

/** Copies an interleaved stereo clip into the stem at `startFrame`, at most `maxFrames` long, with short fades at both ends. */
function place(clip: Float32Array, left: Float32Array, right: Float32Array, startFrame: number, maxFrames: number): void {
  const length = Math.max(0, Math.min(clip.length / 2, maxFrames, left.length - startFrame));
  const fadeIn = Math.min(length, Math.round(FADE_IN_SECONDS * RENDER_RATE));
  const fadeOut = Math.min(length, Math.round(FADE_OUT_SECONDS * RENDER_RATE));
  for (let i = 0; i < length; i++) {
    const envelope = Math.min(1, i < fadeIn ? i / fadeIn : 1, i >= length - fadeOut ? (length - i) / fadeOut : 1);
    left[startFrame + i] += clip[i * 2] * envelope;
    right[startFrame + i] += clip[i * 2 + 1] * envelope;
  }
}

/**
 * The user's own take, pitch-corrected towards the key's scale (each hummed note moved by the cents to
 * its nearest scale tone), cleaned (80 Hz high-pass, light denoise, silence trimmed), brought to about
 * −18 LUFS, produced (vocalChain), lifted 8 dB and sung at the start of every hook section on the beat grid, with fades; with a speech
 * rendition, the lyrics are spoken over the verse. Padded to exactly the blueprint's length, 44.1 kHz stereo.
 */
export async function renderVocals(input: string, blueprint: Blueprint, analysis: Analysis, outWav: string, options: VocalOptions): Promise<VocalReport> {
  // Gain from the analysis' measurement so a −45 LUFS phone take reaches the target before the silence gate sees it.
  const gainDb = Math.max(-20, Math.min(40, VOCAL_TARGET_LUFS - (Number.isFinite(analysis.loudness_lufs) ? analysis.loudness_lufs : VOCAL_TARGET_LUFS)));
  const start = Math.max(0, analysis.voiced_start_s - 0.05);
  const end = analysis.voiced_end_s > start ? analysis.voiced_end_s + 0.1 : analysis.duration_s;
  const notes = analysis.notes.filter((note) => note.onset_s + note.duration_s > start && note.onset_s < end);
  const noiseDb = await noiseFloorDb(input, options.format, analysis.voiced_start_s - 0.1, gainDb);
  const cleaning = [
    `volume=${gainDb.toFixed(2)}dB`,
    'highpass=f=80',
    // afftdn's floor set just over the noise measured before the voice, so it removes that noise and leaves the voice.
    ...(noiseDb === null ? ['afftdn=nr=10:nf=-50'] : [`afftdn=nr=40:nf=${Math.max(-80, Math.min(-20, noiseDb + NOISE_FLOOR_MARGIN_DB)).toFixed(1)}:tn=1`]),
    `atrim=start=${start.toFixed(3)}:end=${end.toFixed(3)}`,
    'asetpts=PTS-STARTPTS',
    // Closes between phrases, so what hiss the denoiser leaves never plays without the voice over it.
    `agate=threshold=${GATE_THRESHOLD}:ratio=20:range=0.001:attack=5:release=120:knee=2`,
    'aformat=channel_layouts=mono',
    `aresample=${RENDER_RATE}`,
  ];
  // Cleaning and pitch measurement run side by side; the shift needs both.
  const [cleaned, pitches, speech] = await Promise.all([
    runFfmpeg([...ffmpegInput(input, options.format), '-map', '0:a:0', '-af', cleaning.join(','), '-f', 'f32le', 'pipe:1'], { stdout: true }).then(({ stdout }) => stdout),
    measureNotePitches(
      input,
      options.format,
      notes.map((note) => ({ start_s: note.onset_s, end_s: note.onset_s + note.duration_s })),
    ),
    options.speech
      ? decodeStereo(ffmpegInput(options.speech.path, options.speech.format), ['highpass=f=80', `loudnorm=I=${SPEECH_TARGET_LUFS}:TP=-3:LRA=11`, `aresample=${RENDER_RATE}`, 'alimiter=limit=0.71:level=false'])
      : null,
  ]);
  const { commands, cents } = correctionCommands(notes, pitches, parseKey(blueprint.key), start);
  const shaping = [
    ...(commands ? [`asendcmd=c='${commands}'`, 'rubberband=pitch=1:transients=smooth'] : []),
    vocalChain(),
    'silenceremove=start_periods=1:start_threshold=-50dB:start_silence=0.02',
    'areverse',
    'silenceremove=start_periods=1:start_threshold=-50dB:start_silence=0.05',
    'areverse',
    `volume=${LEAD_LIFT_DB}dB`,
    'alimiter=limit=0.89:level=false',
  ];
  const clip = await decodeStereo(ffmpegInput('pipe:0', 'f32le', ['-ar', String(RENDER_RATE), '-ac', '1']), shaping, Readable.from([cleaned]));
  if (clip.length === 0) throw new AudioError('AUDIO_SILENT', 'no voice left after trimming silence', false);

  const totalFrames = blueprintFrames(blueprint);
  const framesPerBeat = (60 / blueprint.tempo_bpm) * RENDER_RATE;
  const left = new Float32Array(totalFrames);
  const right = new Float32Array(totalFrames);
  const hooks = hookSections(blueprint);
  for (const hook of hooks) place(clip, left, right, Math.round(hook.startBeat * framesPerBeat), Math.round(hook.beats * framesPerBeat));
  let speechBeat: number | null = null;
  if (speech && speech.length) {
    const section = speechSection(blueprint);
    speechBeat = section.startBeat;
    const hookStart = hooks.find((hook) => hook.startBeat > section.startBeat)?.startBeat ?? section.startBeat + section.beats;
    // The spoken line may run on to the next hook but never over it.
    place(speech, left, right, Math.round(section.startBeat * framesPerBeat), Math.round((Math.max(hookStart, section.startBeat + section.beats) - section.startBeat) * framesPerBeat));
  }
  for (let i = 0; i < totalFrames; i++) {
    left[i] = Math.max(-1, Math.min(1, left[i]));
    right[i] = Math.max(-1, Math.min(1, right[i]));
  }
  await writeFile(outWav, encodeWav16([left, right], RENDER_RATE));
  return { duration_s: totalFrames / RENDER_RATE, hook_beats: hooks.map((hook) => hook.startBeat), corrections_cents: cents, speech_beat: speechBeat };
}
