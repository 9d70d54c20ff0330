import { writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { parseTimeSignature, type Analysis, type Blueprint } from '@mcm/pipeline';
import { AudioError } from '../audio-error';
import { ffmpegFilterLatency, ffmpegHasFilter, ffmpegInput, runFfmpeg } from '../io/ffmpeg';
import { parseKey } from '../analysis/harmony';
import { blueprintFrames, RENDER_RATE } from './instrumental';
import { hookSpans, scoreSections, vocalSpans } from '../score/form';
import { phraseLoopBeats, phraseLoops, quantisePhrase } from '../score/melody';
import { pitchTrackInWorker } from '../dsp.pool';
import { encodeWav16 } from '../io/wav';
import { addReverb, halfRate } from './chain';
import { powerSpectrum } from '../mix/balance';
import { harmonyOf, noteCorrections, sungNotes, tuneClip, tuningShifts, type ClipPitch, type SungNote } from './voice-tuning';

const VOCAL_TARGET_LUFS = -18;
// After the chain the produced voice is lifted so it sits over the band in the hooks, as a lead vocal does.
const LEAD_LIFT_DB = 8;
// Spoken lyrics sit a little under the sung hook so the user's own voice stays the lead.
const SPEECH_TARGET_LUFS = -20;
// Shorter than this before the voice is too little noise to measure; the denoiser then stays light.
const NOISE_PROFILE_MIN_SECONDS = 0.1;
// afftdn's floor is a per-band level: a few dB over the noise's RMS puts a hiss band under it.
const NOISE_FLOOR_MARGIN_DB = 4;
// 23 ms windows: several fit in the shortest noise lead-in, and each of afftdn's bands above 120 Hz gets a few bins.
const NOISE_FFT_SIZE = 1024;
// −20 dBFS, a few dB under the −18 LUFS voice: the phone take's breath and residual hiss between phrases stay under it (0.05 left them 11 dB under the voice).
const GATE_THRESHOLD = 0.1;
const FADE_OUT_SECONDS = 0.15;
// Its look-ahead delays the voice (5 ms): the stem is read that much later, so each note stays on its beat.
const VOICE_LIMITER = 'alimiter=limit=0.89:level=false';
// The pitch tracker works on a band-limited 8 kHz copy, as the analysis does.
const PITCH_RATE = 8_000;
// 64 ms frames (YIN compares 32 ms, several periods of any sung note): a quarter of the analysis' work per frame, at every 10 ms of the take.
const PITCH_FRAME = 512;
// Tuning resolution: a new ratio every 10 ms follows a scoop without chopping it.
const TUNING_HOP_SECONDS = 0.01;
// Each note is cut this long before its onset and crossfaded over it, so its attack is kept whole and joins the note before.
const CROSSFADE_SECONDS = 0.015;
// The last note of the phrase keeps this much of its release.
const LAST_NOTE_TAIL_SECONDS = 0.25;
// A note ends where its voice stops: the first 100 ms (in 10 ms frames) spent 24 dB under the note's loudest frame.
const VOICE_END_FRAME_SECONDS = 0.01;
const VOICE_END_HOLD_SECONDS = 0.1;
const VOICE_END_UNDER_DB = 24;
// The lead voice sits a little left, its harmony (a third above, 7.5 dB down) further right.
const LEAD_PAN = -0.15;
const HARMONY_PAN = 0.5;
const HARMONY_GAIN_DB = -7.5;
// A medium room under the slap echo: its RT60, and its return over the dry voice.
const VOICE_REVERB_SECONDS = 1.2;
const VOICE_REVERB_LEVEL = 0.3;
// The slap-and-room echo under the dry voice, and a dotted-eighth delay in time with the song: its two
// repeats (−15 and −23 dB) carry a phrase's last note into the rest before the bar line instead of leaving a hole there.
const ROOM_ECHOES = [
  { ms: 90, decay: 0.3 },
  { ms: 170, decay: 0.2 },
  { ms: 260, decay: 0.12 },
];
const DOTTED_EIGHTH_ECHOES = [
  { beats: 0.75, decay: 0.18 },
  { beats: 1.5, decay: 0.07 },
];

export interface VocalOptions {
  /** The demuxer of the user's take: the container it was sniffed as when uploaded. */
  format: string;
  /** A rendition of the blueprint's lyrics (ElevenLabs text-to-speech) and its format; spoken over the verse when given. */
  speech?: { path: string; format: string } | null;
}

export interface VocalReport {
  duration_s: number;
  /** Start of each section the user's take is sung over, in beats. */
  hook_beats: number[];
  /** Per detected note: the median correction applied, in cents (NaN where the note had no stable pitch or no target in the Score). */
  corrections_cents: number[];
  /** Start of the spoken lyrics, in beats, when a speech rendition was given. */
  speech_beat: number | null;
}

interface SectionSpan {
  index: number;
  startBeat: number;
  beats: number;
  /** 0–1, as the form reads it. */
  energy: number;
}

const span = ({ index, startBeat, beats, energy }: SectionSpan): SectionSpan => ({ index, startBeat, beats, energy });

/** The sections the user's take is sung over, as the Score's form decides them. */
export function vocalSections(blueprint: Blueprint): SectionSpan[] {
  return vocalSpans(blueprint).map(span);
}

/** The hooks: the sung sections where the voice is doubled by its harmony (the choruses). */
export function hookSections(blueprint: Blueprint): SectionSpan[] {
  return hookSpans(blueprint).map(span);
}

/** Beat where the voice first enters: the start of the first sung section. */
export function vocalEntryBeat(blueprint: Blueprint): number {
  return vocalSections(blueprint)[0]?.startBeat ?? 0;
}

/** Where spoken lyrics go: the last section before the first hook named verse, else the last before it, else the first hook. */
export function speechSection(blueprint: Blueprint): SectionSpan {
  const first = hookSections(blueprint)[0];
  const before = scoreSections(blueprint)
    .map(span)
    .filter((section) => section.startBeat < (first?.startBeat ?? 0));
  const verse = before.filter((section) => /verse/i.test(blueprint.sections[section.index].name)).at(-1) ?? before.at(-1);
  return verse ?? first;
}

/** The band centres of afftdn's noise profile, as the filter computes them (80 Hz, then ×1.5 + 5, rounded). */
function denoiserBandCentres(): number[] {
  const centres = [80];
  for (let band = 1; band < 15; band++) {
    const next = Math.round(1.5 * centres[band - 1] + 5);
    centres.push(
      next < 1000 ? 10 * Math.floor(next / 10) : next < 5000 ? 50 * Math.floor((next + 20) / 50) : next < 15000 ? 100 * Math.floor((next + 45) / 100) : 1000 * Math.floor((next + 495) / 1000),
    );
  }
  return centres;
}

interface NoiseProfile {
  /** RMS of the noise, dBFS. */
  rms_db: number;
  /** Per afftdn band, dB over a white noise of the same RMS (integers, −24…24 as afftdn takes them). */
  bands: number[];
}

/**
 * The noise before the voice starts (after the take's gain): its RMS and its shape over afftdn's 15 bands.
 * The shape is each band's power per bin over the mean power per bin.
 */
function noiseProfile(noise: Float32Array): NoiseProfile {
  let sum = 0;
  for (let i = 0; i < noise.length; i++) sum += noise[i] * noise[i];
  const rmsDb = 10 * Math.log10(sum / Math.max(1, noise.length) + 1e-20);
  if (!(rmsDb > -90) || noise.length < NOISE_FFT_SIZE) return { rms_db: rmsDb, bands: [] };
  const power = powerSpectrum(noise, NOISE_FFT_SIZE);
  const binHz = RENDER_RATE / NOISE_FFT_SIZE;
  const first = Math.ceil(80 / binHz);
  let mean = 0;
  for (let bin = first; bin < power.length; bin++) mean += power[bin];
  mean /= power.length - first;
  const nyquist = RENDER_RATE / 2;
  const bands: number[] = [];
  for (const centre of denoiserBandCentres()) {
    if (centre * 1.2247 > nyquist) {
      bands.push(bands.at(-1) ?? 0);
      continue;
    }
    let bandSum = 0;
    let count = 0;
    for (let bin = Math.floor(centre / 1.2247 / binHz); bin <= Math.ceil((centre * 1.2247) / binHz); bin++) {
      bandSum += power[bin];
      count++;
    }
    bands.push(Math.max(-24, Math.min(24, Math.round(10 * Math.log10(bandSum / count / mean + 1e-12)))));
  }
  return { rms_db: rmsDb, bands };
}

/** afftdn set from the noise before the voice: its floor just over the noise, shaped band by band where the profile is known. */
function denoiser(profile: NoiseProfile | null): string {
  if (profile === null || !(profile.rms_db > -90)) return 'afftdn=nr=10:nf=-50';
  const floor = Math.max(-80, Math.min(-20, profile.rms_db + NOISE_FLOOR_MARGIN_DB)).toFixed(1);
  return profile.bands.length === 15 ? `afftdn=nr=40:nf=${floor}:nt=c:bn=${profile.bands.join('|')}:tn=1` : `afftdn=nr=40:nf=${floor}:tn=1`;
}

async function decodeStereo(input: string[], filters: string[], stream?: Readable): Promise<Float32Array> {
  const { stdout } = await runFfmpeg([...input, '-map', '0:a:0', '-af', filters.join(','), '-ac', '2', '-f', 'f32le', 'pipe:1'], {
    stdout: true,
    input: stream,
  });
  return float32View(stdout, Math.floor(stdout.length / 8) * 2);
}

/** The first `length` samples of 32-bit float PCM in place, copied only when they sit off a 4-byte boundary: a stem's worth is 10 MB the garbage collector need not see twice. */
function float32View(bytes: Buffer, length: number): Float32Array {
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, length);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + length * 4));
}

/**
 * The produced voice, one graph: rumble cut, sibilance tamed, levels held, presence lifted, a short
 * slap-and-room echo under the dry voice so it sits in the band rather than on top of it, and a
 * dotted-eighth delay at the song's tempo.
 */
function vocalChain(tempoBpm: number): string {
  const beatMs = 60_000 / tempoBpm;
  const echoes = [...ROOM_ECHOES, ...DOTTED_EIGHTH_ECHOES.map(({ beats, decay }) => ({ ms: beats * beatMs, decay }))];
  return [
    'highpass=f=100:p=2',
    ...(ffmpegHasFilter('deesser') ? ['deesser=i=0.4:m=0.5:f=0.5'] : []),
    'acompressor=threshold=0.1:ratio=3:attack=8:release=120:makeup=2.5:knee=3',
    'equalizer=f=250:t=q:w=1:g=-2',
    'equalizer=f=3500:t=q:w=1.2:g=3',
    'equalizer=f=10000:t=h:w=0.7:g=2',
    // aecho sums the dry voice with its repeats, so the send needs no split (the bundled ffmpeg's amix cannot weigh without normalising).
    `aecho=in_gain=1:out_gain=0.85:delays=${echoes.map(({ ms }) => ms.toFixed(1)).join('|')}:decays=${echoes.map(({ decay }) => decay).join('|')}`,
  ].join(',');
}

/**
 * Each note ended where the voice in it stops, not where the next note starts: a hum that fades out
 * inside a long analysed note leaves only the gate's flutter (breath and noise bursts the gate lets
 * through, 10–60 ms at 10–15 dB under the voice) before the next note, and laid on the grid that flutter
 * clicks in the gap before a bar line. The end is the first frame of the first 100 ms spent 24 dB under
 * the note's loudest frame.
 */
function endWhereTheVoiceStops(notes: SungNote[], clip: Float32Array): SungNote[] {
  const frame = Math.round(VOICE_END_FRAME_SECONDS * RENDER_RATE);
  const hold = Math.round(VOICE_END_HOLD_SECONDS / VOICE_END_FRAME_SECONDS);
  const levelDb = (from: number) => {
    let sum = 0;
    for (let i = from; i < Math.min(clip.length, from + frame); i++) sum += clip[i] * clip[i];
    return 10 * Math.log10(sum / frame + 1e-12);
  };
  return notes.map((note) => {
    const first = Math.round(note.from_s * RENDER_RATE);
    const levels: number[] = [];
    for (let at = first; at < Math.min(clip.length, Math.round(note.to_s * RENDER_RATE)); at += frame) levels.push(levelDb(at));
    const floor = Math.max(...levels) - VOICE_END_UNDER_DB;
    let quiet = 0;
    for (let index = 0; index < levels.length; index++) {
      quiet = levels[index] < floor ? quiet + 1 : 0;
      if (quiet === hold) return { ...note, to_s: note.from_s + ((index - hold + 1) * frame) / RENDER_RATE, voice_ended: true };
    }
    return note;
  });
}

/** One cut of the tuned take laid on the stem: source and destination frames, length, and whether the harmony doubles it. */
interface Placement {
  from: number;
  to: number;
  length: number;
  doubled: boolean;
  /** Frames of fade at the end: a crossfade into the next note, or a release where the section or phrase ends. */
  fadeOut: number;
}

/**
 * Where each kept note of the take goes: at its quantised beat in every loop of the phrase through each
 * sung section (the loops the lead plays), cut a crossfade before its onset and ending where the next
 * placed note begins, the phrase's last note with a short release, all cut at the section's end.
 */
function notePlacements(notes: SungNote[], loopBeats: number, sections: SectionSpan[], hooks: Set<number>, framesPerBeat: number, clipFrames: number): Placement[] {
  const crossfade = Math.round(CROSSFADE_SECONDS * RENDER_RATE);
  const placements: Placement[] = [];
  for (const section of sections) {
    const sectionEnd = Math.round((section.startBeat + section.beats) * framesPerBeat);
    const inSection: Placement[] = [];
    for (const loop of phraseLoops(section, loopBeats)) {
      notes.forEach((note, index) => {
        const beat = loop + note.start_beat;
        if (beat >= section.startBeat + section.beats) return;
        const last = index === notes.length - 1;
        const from = Math.max(0, Math.round(note.from_s * RENDER_RATE) - crossfade);
        const until = Math.min(clipFrames, Math.round((last && !note.voice_ended ? note.to_s + LAST_NOTE_TAIL_SECONDS : note.to_s) * RENDER_RATE));
        inSection.push({
          from,
          to: Math.round(beat * framesPerBeat) - (Math.round(note.from_s * RENDER_RATE) - from),
          length: until - from,
          doubled: hooks.has(section.index),
          fadeOut: last ? Math.round(FADE_OUT_SECONDS * RENDER_RATE) : crossfade,
        });
      });
    }
    inSection.sort((a, b) => a.to - b.to);
    const sectionStart = Math.round(section.startBeat * framesPerBeat);
    inSection.forEach((placement, index) => {
      // The crossfade before the section's first note stays inside the section.
      const early = Math.max(0, sectionStart - placement.to);
      Object.assign(placement, { from: placement.from + early, to: placement.to + early, length: placement.length - early });
      const next = inSection[index + 1];
      const limit = (next ? next.to + crossfade : sectionEnd) - placement.to;
      if (placement.length > limit) {
        placement.length = Math.max(0, limit);
        placement.fadeOut = next ? crossfade : Math.round(FADE_OUT_SECONDS * RENDER_RATE);
      }
    });
    placements.push(...inSection);
  }
  return placements;
}

/** Copies each placement of the tuned take (and of its harmony where doubled) into the stem, panned, with a fade-in over the crossfade and its fade-out. */
function layPlacements(tuned: Float32Array, harmony: Float32Array, placements: Placement[], left: Float32Array, right: Float32Array): void {
  const fadeIn = Math.round(CROSSFADE_SECONDS * RENDER_RATE);
  const harmonyGain = 10 ** (HARMONY_GAIN_DB / 20);
  // Each side's gain a plain local: gains destructured from arrays cost this once-per-stem loop its optimised code at the next call.
  const leadLeft = Math.min(1, 1 - LEAD_PAN);
  const leadRight = Math.min(1, 1 + LEAD_PAN);
  const harmonyLeft = Math.min(1, 1 - HARMONY_PAN) * harmonyGain;
  const harmonyRight = Math.min(1, 1 + HARMONY_PAN) * harmonyGain;
  for (const { from, to, length, doubled, fadeOut } of placements) {
    for (let i = Math.max(0, -to); i < length && to + i < left.length; i++) {
      const envelope = Math.min(1, i < fadeIn ? i / fadeIn : 1, i >= length - fadeOut ? (length - i) / fadeOut : 1);
      const lead = tuned[from + i] * envelope;
      const third = doubled ? harmony[from + i] * envelope : 0;
      left[to + i] += lead * leadLeft + third * harmonyLeft;
      right[to + i] += lead * leadRight + third * harmonyRight;
    }
  }
}

/** Copies a mono or stereo clip into the stem at `startFrame`, at most `maxFrames` long, with a short fade-in and a release. */
function place(clip: Float32Array, channels: number, left: Float32Array, right: Float32Array, startFrame: number, maxFrames: number): void {
  const length = Math.max(0, Math.min(clip.length / channels, maxFrames, left.length - startFrame));
  const fadeIn = Math.min(length, Math.round(CROSSFADE_SECONDS * RENDER_RATE));
  const fadeOut = Math.min(length, Math.round(FADE_OUT_SECONDS * RENDER_RATE));
  for (let i = 0; i < length; i++) {
    const envelope = Math.min(1, i < fadeIn ? i / fadeIn : 1, i >= length - fadeOut ? (length - i) / fadeOut : 1);
    left[startFrame + i] += clip[i * channels] * envelope;
    right[startFrame + i] += clip[i * channels + channels - 1] * envelope;
  }
}

/**
 * The take decoded once for two uses: band-limited to the voice at 8 kHz for the pitch track, and, when the
 * voice starts late enough, the noise before it (after the take's gain) at the render rate, through `pipe:3`.
 */
async function decodePitchAndNoise(input: string, format: string, noiseUntil_s: number, gainDb: number): Promise<{ pitch: Float32Array; noise: Float32Array | null }> {
  const withNoise = noiseUntil_s >= NOISE_PROFILE_MIN_SECONDS;
  const pitch = ['-ac', '1', '-ar', String(PITCH_RATE), '-f', 'f32le', 'pipe:1'];
  const args = withNoise
    ? [
        '-filter_complex',
        `[0:a:0]asplit=2[voice][room];[voice]highpass=f=70,lowpass=f=1000[pitch];[room]atrim=end=${noiseUntil_s.toFixed(3)},volume=${gainDb.toFixed(2)}dB,highpass=f=80,aresample=${RENDER_RATE}[noise]`,
        '-map',
        '[pitch]',
        ...pitch,
        '-map',
        '[noise]',
        '-ac',
        '1',
        '-f',
        'f32le',
        'pipe:3',
      ]
    : ['-map', '0:a:0', '-af', 'highpass=f=70,lowpass=f=1000', ...pitch];
  const { stdout, side } = await runFfmpeg([...ffmpegInput(input, format), ...args], {
    stdout: true,
    sideOutput: withNoise,
    failureCode: 'AUDIO_UNDECODABLE',
    failureRetryable: false,
  });
  return { pitch: float32(stdout), noise: withNoise ? float32(side) : null };
}

function float32(bytes: Buffer): Float32Array {
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + (bytes.length - (bytes.length % 4))));
}

/**
 * The user's own take as the lead vocal of the Score: cleaned (80 Hz high-pass, a denoiser shaped by
 * the noise before the voice, silence between phrases gated), brought to about −18 LUFS, tuned frame by
 * frame to the Score's target for each note (the pitches the lead plays), cut into its notes and laid
 * on the Score's grid, at each note's quantised beat in every loop of the phrase through each sung
 * section; in the hooks a second copy a diatonic third above, 7.5 dB down, panned opposite. Then
 * produced (vocalChain), lifted 8 dB and sent to a medium room reverb; with a speech rendition, the lyrics are spoken over the verse
 * instead of singing it. Exactly the blueprint's length, 44.1 kHz stereo.
 */
export async function renderVocals(input: string, blueprint: Blueprint, analysis: Analysis, outWav: string, options: VocalOptions): Promise<VocalReport> {
  // Gain from the analysis' measurement so a −45 LUFS phone take reaches the target before the silence gate sees it.
  const gainDb = Math.max(-20, Math.min(40, VOCAL_TARGET_LUFS - (Number.isFinite(analysis.loudness_lufs) ? analysis.loudness_lufs : VOCAL_TARGET_LUFS)));
  const start = Math.max(0, analysis.voiced_start_s - 0.05);
  const end = analysis.voiced_end_s > start ? analysis.voiced_end_s + 0.1 : analysis.duration_s;
  const key = parseKey(blueprint.key);
  const phrase = quantisePhrase(analysis, blueprint.tempo_bpm, key);
  const cleaning = (profile: NoiseProfile | null, latencyFrames: number) => [
    `volume=${gainDb.toFixed(2)}dB`,
    'highpass=f=80',
    // The denoiser's floor and shape come from the noise before the voice, so it removes that noise and leaves the voice.
    denoiser(profile),
    // Trimmed after the denoiser by its lag too, so the clip's times are the analysis' (and the pitch track's).
    `atrim=start=${(start + latencyFrames / RENDER_RATE).toFixed(4)}:end=${(end + latencyFrames / RENDER_RATE).toFixed(4)}`,
    'asetpts=PTS-STARTPTS',
    // Closes between phrases, so what hiss the denoiser leaves never plays without the voice over it. A 60 ms release ends
    // a phrase cleanly: a longer one let breath and a weak syllable flutter through before the next bar line.
    `agate=threshold=${GATE_THRESHOLD}:ratio=20:range=0.001:attack=5:release=60:knee=2`,
    'aformat=channel_layouts=mono',
    `aresample=${RENDER_RATE}`,
  ];
  // One decode gives the pitch track's input and the noise profile; cleaning (which needs the profile) and pitch tracking then run side by side.
  const decoded = decodePitchAndNoise(input, options.format, analysis.voiced_start_s - 0.1, gainDb);
  const [cleaned, contour, speech, limiterLag] = await Promise.all([
    Promise.all([decoded, ffmpegFilterLatency('afftdn=tn=1')]).then(([{ noise }, latency]) =>
      runFfmpeg([...ffmpegInput(input, options.format), '-map', '0:a:0', '-af', cleaning(noise && noiseProfile(noise), latency).join(','), '-f', 'f32le', 'pipe:1'], { stdout: true }).then(
        ({ stdout }) => stdout,
      ),
    ),
    decoded.then(({ pitch }) => pitchTrackInWorker({ pcm: pitch, sampleRate: PITCH_RATE, hopSeconds: TUNING_HOP_SECONDS, frameSize: PITCH_FRAME })),
    options.speech
      ? decodeStereo(ffmpegInput(options.speech.path, options.speech.format), [
          'highpass=f=80',
          `loudnorm=I=${SPEECH_TARGET_LUFS}:TP=-3:LRA=11`,
          `aresample=${RENDER_RATE}`,
          'alimiter=limit=0.71:level=false',
        ])
      : null,
    ffmpegFilterLatency(VOICE_LIMITER),
  ]);
  const clipFrames = Math.floor(cleaned.length / 4);
  if (clipFrames === 0) throw new AudioError('AUDIO_SILENT', 'no voice left after trimming silence', false);
  const clipSeconds = clipFrames / RENDER_RATE;
  const clip = float32View(cleaned, clipFrames);
  const notes = endWhereTheVoiceStops(sungNotes(analysis.notes, phrase, start, clipSeconds), clip);
  const offsetFrames = Math.round(start / TUNING_HOP_SECONDS);
  const hopFrames = Math.ceil(clipSeconds / TUNING_HOP_SECONDS);
  const shifts = notes.length ? tuningShifts(contour, TUNING_HOP_SECONDS, offsetFrames, notes, hopFrames) : new Float32Array(hopFrames);
  const pitch: ClipPitch = { contour, hopSeconds: TUNING_HOP_SECONDS, offsetFrames };
  const tuned = notes.length ? tuneClip(clip, RENDER_RATE, pitch, notes, shifts) : clip;

  const totalFrames = blueprintFrames(blueprint);
  const framesPerBeat = (60 / blueprint.tempo_bpm) * RENDER_RATE;
  const left = new Float32Array(totalFrames);
  const right = new Float32Array(totalFrames);
  const spoken = speech && speech.length ? speechSection(blueprint) : null;
  // With spoken lyrics the verse is theirs: the take sings the other sections.
  const sung = vocalSections(blueprint).filter((section) => section.index !== spoken?.index);
  const hooks = new Set(hookSections(blueprint).map((hook) => hook.index));
  if (notes.length) {
    const { beatsPerBar } = parseTimeSignature(blueprint.time_signature);
    layPlacements(tuned, harmonyOf(tuned, RENDER_RATE, pitch, notes, key), notePlacements(notes, phraseLoopBeats(phrase.notes, beatsPerBar), sung, hooks, framesPerBeat, clipFrames), left, right);
  } else {
    // No note kept a target: the take is sung whole from each section's downbeat, as hummed.
    for (const section of sung) place(tuned, 1, left, right, Math.round(section.startBeat * framesPerBeat), Math.round(section.beats * framesPerBeat));
  }
  const produced = await decodeStereo(
    ffmpegInput('pipe:0', 'f32le', ['-ar', String(RENDER_RATE), '-ac', '2']),
    [vocalChain(blueprint.tempo_bpm), `volume=${LEAD_LIFT_DB}dB`, VOICE_LIMITER, `atrim=start_sample=${limiterLag}`],
    Readable.from([interleave(left, right)]),
  );
  deinterleaveInto(produced, left, right);
  levelSections(left, right, sung, hooks, framesPerBeat);
  // The reverb send: the room the band plays in, so a phrase's end rings into the next bar instead of stopping dead.
  addReverb(halfRate(monoSum(left, right)), left, right, RENDER_RATE, VOICE_REVERB_SECONDS, VOICE_REVERB_LEVEL);
  let speechBeat: number | null = null;
  if (spoken && speech) {
    speechBeat = spoken.startBeat;
    const hookStart = sung.find((section) => section.startBeat > spoken.startBeat)?.startBeat ?? spoken.startBeat + spoken.beats;
    // The spoken line may run on to the next sung section but never over it.
    place(speech, 2, left, right, Math.round(spoken.startBeat * framesPerBeat), Math.round((Math.max(hookStart, spoken.startBeat + spoken.beats) - spoken.startBeat) * framesPerBeat));
  }
  clampStereo(left, right);
  await writeFile(outWav, encodeWav16([left, right], RENDER_RATE));
  return {
    duration_s: totalFrames / RENDER_RATE,
    hook_beats: sung.map((section) => section.startBeat),
    corrections_cents: noteCorrections(contour, TUNING_HOP_SECONDS, offsetFrames, notes, analysis.notes.length),
    speech_beat: speechBeat,
  };
}

/**
 * A sung section quieter than the hooks carries a softer voice (its energy over theirs, as a gain), so
 * the chorus still lifts over the verse. Applied after the chain, whose compressor would even it out;
 * 20 ms ramps at each edge.
 */
function levelSections(left: Float32Array, right: Float32Array, sung: SectionSpan[], hooks: Set<number>, framesPerBeat: number): void {
  const hookEnergy = Math.max(...sung.filter((section) => hooks.has(section.index) || !hooks.size).map((section) => section.energy));
  const ramp = Math.round(0.02 * RENDER_RATE);
  for (const section of sung) {
    // The energy ratio squared: the band already rises towards the chorus, so the voice must fall further for the lift to be heard.
    const gain = hookEnergy > 0 ? Math.min(1, (section.energy / hookEnergy) ** 2) : 1;
    if (gain >= 1) continue;
    const from = Math.round(section.startBeat * framesPerBeat);
    const to = Math.min(left.length, Math.round((section.startBeat + section.beats) * framesPerBeat));
    for (let i = from; i < to; i++) {
      const edge = Math.min(1, (i - from) / ramp, (to - i) / ramp);
      const level = 1 - (1 - gain) * edge;
      left[i] *= level;
      right[i] *= level;
    }
  }
}

// The stem's passes over every frame are functions of their own: each call of renderVocals would otherwise optimise its
// loops afresh while they run, the first part of each pass running unoptimised.

/** Interleaved stereo into two channels, silent past its end. */
function deinterleaveInto(interleaved: Float32Array, left: Float32Array, right: Float32Array): void {
  const frames = Math.min(left.length, Math.floor(interleaved.length / 2));
  for (let i = 0; i < frames; i++) {
    left[i] = interleaved[i * 2];
    right[i] = interleaved[i * 2 + 1];
  }
  left.fill(0, frames);
  right.fill(0, frames);
}

/** Half the sum of the two channels. */
function monoSum(left: Float32Array, right: Float32Array): Float32Array {
  const sum = new Float32Array(left.length);
  for (let i = 0; i < sum.length; i++) sum[i] = 0.5 * (left[i] + right[i]);
  return sum;
}

/** Each sample held within −1…1. */
function clampStereo(left: Float32Array, right: Float32Array): void {
  for (let i = 0; i < left.length; i++) {
    left[i] = Math.max(-1, Math.min(1, left[i]));
    right[i] = Math.max(-1, Math.min(1, right[i]));
  }
}

function interleave(left: Float32Array, right: Float32Array): Buffer {
  const out = new Float32Array(left.length * 2);
  for (let i = 0; i < left.length; i++) {
    out[i * 2] = left[i];
    out[i * 2 + 1] = right[i];
  }
  return Buffer.from(out.buffer);
}
