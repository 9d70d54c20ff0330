import type { Analysis } from '@mcm/pipeline';
import { AudioError } from '../audio-error';
import { analyzeVoiceInWorker } from '../dsp.pool';
import { ffmpegInput, runFfmpeg } from '../io/ffmpeg';
import { detectKey, keyName } from './harmony';
import { parseEbur128 } from '../mix/loudness';
import { parseProbe } from '../io/probe';
import { clampTempo, estimateTempo } from './tempo';

// 8 kHz keeps four harmonics of a hum while making YIN four times cheaper than at 16 kHz.
const ANALYSIS_RATE = 8_000;
/** Used when the take has too few notes to show a pulse. */
export const DEFAULT_TEMPO = 100;

/**
 * Reads what the take holds: loudness, where the voice is, the sung notes, tempo, key and energy.
 * One ffmpeg pass decodes (as `format`, the demuxer the upload was sniffed as), measures EBU R128 loudness and
 * the sample peak (not the true peak, whose oversampling took a third of the pass and which nothing here uses),
 * then band-limits to the voice and resamples to 8 kHz mono for pitch tracking.
 */
export async function analyzeAudio(file: string, format: string): Promise<Analysis> {
  const { stdout, stderr } = await runFfmpeg(
    ['-xerror', ...ffmpegInput(file, format), '-map', '0:a:0', '-af', 'ebur128=peak=sample,highpass=f=70,lowpass=f=1000', '-ac', '1', '-ar', String(ANALYSIS_RATE), '-f', 'f32le', 'pipe:1'],
    { stdout: true, failureCode: 'AUDIO_UNDECODABLE', failureRetryable: false },
  );
  const probe = parseProbe(stderr);
  if (!probe || !(probe.duration_s > 0) || stdout.length < 4) throw new AudioError('AUDIO_EMPTY', 'the upload contains no audio', false);
  const loudness = parseEbur128(stderr);
  const pcm = new Float32Array(stdout.buffer.slice(stdout.byteOffset, stdout.byteOffset + (stdout.length - (stdout.length % 4))));
  const findings = await analyzeVoiceInWorker({ pcm, sampleRate: ANALYSIS_RATE });
  if (!findings.voiced || findings.peak_db < -75) throw new AudioError('AUDIO_SILENT', 'the upload is silent: no voice was found', false);

  const notes = findings.notes;
  const detected = estimateTempo(notes);
  const histogram = new Array<number>(12).fill(0);
  for (const note of notes) histogram[((note.midi % 12) + 12) % 12] += note.duration_s;
  const { key, confidence } = detectKey(histogram);
  const voicedSeconds = Math.max(0.001, findings.voiced.end_s - findings.voiced.start_s);
  // Level of the voice (a quiet phone take still hums with intent) blended with how busy the melody is.
  const level = Math.min(1, Math.max(0, (findings.voiced_rms_db + 55) / 45));
  const density = Math.min(1, notes.length / voicedSeconds / 4);
  const samplePeak = /Sample peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS/.exec(stderr.slice(stderr.lastIndexOf('Summary:')))?.[1];

  return {
    duration_s: probe.duration_s,
    sample_rate: probe.sample_rate,
    channels: probe.channels,
    loudness_lufs: loudness.integrated_lufs,
    peak_dbfs: samplePeak && samplePeak !== '-inf' ? Number(samplePeak) : round2(findings.peak_db),
    voiced_start_s: round3(findings.voiced.start_s),
    voiced_end_s: round3(Math.min(probe.duration_s, findings.voiced.end_s)),
    median_pitch_hz: findings.median_pitch_hz,
    notes,
    tempo_bpm: detected === null ? DEFAULT_TEMPO : clampTempo(detected),
    tempo_source: detected === null ? 'style' : 'onsets',
    key: notes.length ? keyName(key) : 'C',
    key_confidence: notes.length ? round3(confidence) : 0,
    energy: round3(0.6 * level + 0.4 * density),
  };
}

const round2 = (value: number): number => Math.round(value * 100) / 100;
const round3 = (value: number): number => Math.round(value * 1000) / 1000;
