import { Readable } from 'node:stream';
import { pitchContour } from '@mcm/audio/analysis/pitch';
import { ffmpegInput, runFfmpeg } from '@mcm/audio/io/ffmpeg';

const RATE = 44_100;
const PITCH_RATE = 8_000;
export const HOP_SECONDS = 0.01;

/** Fractional MIDI pitch every 10 ms of a 44.1 kHz mono signal (NaN where unvoiced), tracked as the engine tracks a take: band-limited, at 8 kHz. */
export async function pitchFrames(mono: Float32Array): Promise<Float32Array> {
  const { stdout } = await runFfmpeg(
    [...ffmpegInput('pipe:0', 'f32le', ['-ar', String(RATE), '-ac', '1']), '-af', 'highpass=f=70,lowpass=f=1000', '-ar', String(PITCH_RATE), '-f', 'f32le', 'pipe:1'],
    {
      stdout: true,
      input: Readable.from([Buffer.from(mono.buffer, mono.byteOffset, mono.byteLength)]),
    },
  );
  const pcm = new Float32Array(stdout.buffer.slice(stdout.byteOffset, stdout.byteOffset + (stdout.length - (stdout.length % 4))));
  return foldSlips(pitchContour(pcm, { sampleRate: PITCH_RATE, hopSeconds: HOP_SECONDS }).midi);
}

// Frames each side whose median a frame is folded towards: longer than YIN's octave slips on a sustained instrument (~100 ms), shorter than a phrase.
const SLIP_REACH = 20;

/** Moves each frame by whole octaves towards the median of the 400 ms around it: YIN slips an octave for a few frames, a note does not. */
function foldSlips(midi: Float32Array): Float32Array {
  const out = Float32Array.from(midi);
  for (let frame = 0; frame < midi.length; frame++) {
    if (Number.isNaN(midi[frame])) continue;
    const around: number[] = [];
    for (let k = Math.max(0, frame - SLIP_REACH); k <= Math.min(midi.length - 1, frame + SLIP_REACH); k++) if (!Number.isNaN(midi[k])) around.push(midi[k]);
    around.sort((a, b) => a - b);
    out[frame] = midi[frame] + 12 * Math.round((around[around.length >> 1] - midi[frame]) / 12);
  }
  return out;
}

/**
 * A rendered instrument's tracked pitch with the tracker's octave slips put back where the Score says
 * which note sounds: a frame of a note or of its release (until the next note, at most `releaseSeconds`
 * after it ends) reading that note ±12 semitones (YIN locking on the second harmonic as a sample decays)
 * is read at the note. Only the instrument whose notes are known is corrected this way; the signal
 * compared with it keeps the octave it was tracked at.
 */
export function onScoreOctave(midi: Float32Array, notes: { from_s: number; to_s: number; midi: number }[], releaseSeconds = 0.5): Float32Array {
  const out = Float32Array.from(midi);
  notes.forEach((note, index) => {
    const until = Math.min(notes[index + 1]?.from_s ?? Infinity, note.to_s + releaseSeconds);
    for (let frame = Math.round(note.from_s / HOP_SECONDS); frame < Math.min(out.length, Math.round(until / HOP_SECONDS)); frame++) {
      const octaves = Math.round((out[frame] - note.midi) / 12);
      if (octaves !== 0 && Math.abs(out[frame] - 12 * octaves - note.midi) <= 0.5) out[frame] -= 12 * octaves;
    }
  });
  return out;
}

export interface PitchAgreement {
  /** Frames where both signals are pitched. */
  both: number;
  /** Of those, frames within the tolerance (same octave: no folding). */
  agreeing: number;
  share: number;
}

/** Frame-by-frame pitch agreement of two tracks over `[from_s, to_s)`: the share of frames where both sound and lie within `toleranceCents`. */
export function pitchAgreement(lead: Float32Array, voice: Float32Array, from_s: number, to_s: number, toleranceCents = 50): PitchAgreement {
  let both = 0;
  let agreeing = 0;
  for (let frame = Math.round(from_s / HOP_SECONDS); frame < Math.min(lead.length, voice.length, Math.round(to_s / HOP_SECONDS)); frame++) {
    if (Number.isNaN(lead[frame]) || Number.isNaN(voice[frame])) continue;
    both++;
    if (Math.abs(lead[frame] - voice[frame]) * 100 <= toleranceCents) agreeing++;
  }
  return { both, agreeing, share: both ? agreeing / both : 0 };
}

// 5 ms level windows; their length in whole frames is what sets each window's time (220.5 frames rounded would drift 0.2 %).
const ENVELOPE_FRAMES = Math.round(0.005 * RATE);

/** Level in dB of consecutive `ENVELOPE_FRAMES` windows of a mono signal. */
function envelopeDb(mono: Float32Array): Float32Array {
  const size = ENVELOPE_FRAMES;
  const out = new Float32Array(Math.floor(mono.length / size));
  for (let w = 0; w < out.length; w++) {
    let sum = 0;
    for (let i = w * size; i < (w + 1) * size; i++) sum += mono[i] * mono[i];
    out[w] = 10 * Math.log10(sum / size + 1e-12);
  }
  return out;
}

/**
 * Where a note starts near each expected onset: the steepest 10 ms rise of the 5 ms level within
 * ±`searchSeconds` of it, counting only rises that reach within 20 dB of the signal's peak-ish level
 * (its 95th percentile), so a faint edge out of digital silence is no onset; null where none rises by 6 dB.
 */
export function onsetsNear(mono: Float32Array, expected_s: number[], searchSeconds = 0.06): (number | null)[] {
  const envelope = envelopeDb(mono);
  const step = ENVELOPE_FRAMES / RATE;
  const loud = Float32Array.from(envelope).sort()[Math.floor(0.95 * (envelope.length - 1))] - 20;
  return expected_s.map((at) => {
    let best: number | null = null;
    let bestRise = 6;
    for (let w = Math.max(2, Math.round((at - searchSeconds) / step)); w <= Math.min(envelope.length - 1, Math.round((at + searchSeconds) / step)); w++) {
      const rise = envelope[w] - envelope[w - 2];
      if (rise > bestRise && envelope[w] >= loud) {
        bestRise = rise;
        best = (w - 1) * step;
      }
    }
    return best;
  });
}

/** Share of 50 ms windows of a stem within `rangeDb` of its peak-ish level (the 95th percentile of those windows' RMS). */
export function heardShare(mono: Float32Array, rangeDb = 20): { share: number; peakDb: number } {
  const size = Math.round(0.05 * RATE);
  const levels: number[] = [];
  for (let start = 0; start + size <= mono.length; start += size) {
    let sum = 0;
    for (let i = start; i < start + size; i++) sum += mono[i] * mono[i];
    levels.push(10 * Math.log10(sum / size + 1e-12));
  }
  const peakDb = [...levels].sort((a, b) => a - b)[Math.floor(0.95 * (levels.length - 1))];
  return { share: levels.filter((level) => level >= peakDb - rangeDb).length / levels.length, peakDb };
}
