import { InterpolationTypes, SpessaSynthProcessor, type BasicSoundBank } from 'spessasynth_core';
import type { Blueprint } from '@mcm/pipeline';
import { STYLE_NAMES, STYLE_SOUNDS } from '../score/styles';
import { arrange } from '../score/arrange';
import { DRUM_CHANNEL, tickSeconds, type Score } from '../score/score';
import { seededRandom } from '../score/random';
import { addGatedReverb, addReverb, finishStem } from './chain';

// The synthesiser renders at most this many frames per call (its envelopes and LFOs step once per call);
// events split calls so every note starts on its own frame, and the call after a strike is short so attacks stay crisp.
const BLOCK = 256;
const ATTACK_BLOCK = 64;
// Voices are mixed into per-bus buffers this long (cache-sized), then onto the stems.
const CHUNK = 8192;
const CHANNELS = 16;
const VOICE_CAP = 128;
// GM controllers.
const BANK_SELECT = 0;
const VOLUME = 7;
const PAN = 10;
const REVERB_SEND = 91;
const CHORUS_SEND = 93;
const RELEASE_TIME = 72;
const SNARES = new Set([38, 40]);

interface NoteEvent {
  frame: number;
  channel: number;
  midi: number;
  /** 0 releases the key. */
  velocity: number;
}

/** Every note-on and note-off of the Score at its frame; releases first where they meet a new strike. */
function noteEvents(score: Score, sampleRate: number, totalFrames: number): NoteEvent[] {
  const frameAt = (tick: number) => Math.round(tickSeconds(score, tick) * sampleRate);
  const events: NoteEvent[] = [];
  for (const track of score.tracks) {
    for (const note of track.notes) {
      const start = frameAt(note.tick);
      if (start >= totalFrames) continue;
      events.push({ frame: start, channel: track.channel, midi: note.midi, velocity: note.velocity });
      events.push({ frame: Math.max(start + 1, frameAt(note.tick + note.ticks)), channel: track.channel, midi: note.midi, velocity: 0 });
    }
  }
  return events.sort((a, b) => a.frame - b.frame || a.velocity - b.velocity || a.channel - b.channel || a.midi - b.midi);
}

/**
 * Adds a chunk of a bus onto the stems (dry) and its share of the reverb send at half the rate:
 * `weight` is its send less the send of the bus the synthesiser writes straight onto the stems,
 * whose share is taken from the stems at the end (`reverbInput`).
 */
function mixBus(busL: Float32Array, busR: Float32Array, weight: number, length: number, at: number, left: Float32Array, right: Float32Array, send: Float32Array): void {
  const quarter = weight * 0.25;
  for (let i = 0; i < length; i++) {
    const l = busL[i];
    const r = busR[i];
    left[at + i] += l;
    right[at + i] += r;
    send[(at + i) >> 1] += (l + r) * quarter;
  }
}

/** The reverb's input at half the rate: each pair of frames of the stems at the direct bus's send, plus the other buses' shares. */
function reverbInput(left: Float32Array, right: Float32Array, directSend: number, send: Float32Array): Float32Array {
  const quarter = directSend * 0.25;
  const last = left.length - 1;
  for (let j = 0; j < send.length; j++) {
    const a = 2 * j;
    const b = a < last ? a + 1 : a;
    send[j] += (left[a] + right[a] + (b === a ? 0 : left[b] + right[b])) * quarter;
  }
  return send;
}

/** What the sampler reads of a voice in the synthesiser's voice table. */
interface VoiceState {
  isActive: boolean;
  isInRelease: boolean;
  /** The volume envelope: its attenuation now (centibels under its peak) and its stage (0 delay, 1 attack, 2 hold, 3 decay, 4 sustain). */
  volEnv: { attenuationCb: number; state: number };
  /** The sample being played and where in it. */
  wavetable: { isLooping: boolean; sampleData?: Float32Array; cursor: number };
}

// A voice 60 dB under its peak is inaudible under the rest of the band; the synthesiser plays it on to −90 dB.
const INAUDIBLE = 10 ** (-60 / 20);
const TAIL_STEP = 512;
const tails = new WeakMap<Float32Array, Float32Array>();

/** The loudest the rest of a sample gets, from each 512-frame step to its end. */
function samplePeaksFrom(data: Float32Array): Float32Array {
  let peaks = tails.get(data);
  if (!peaks) {
    peaks = new Float32Array(Math.max(1, Math.ceil(data.length / TAIL_STEP)));
    let peak = 0;
    for (let step = peaks.length - 1; step >= 0; step--) {
      for (let i = Math.min(data.length, (step + 1) * TAIL_STEP) - 1; i >= step * TAIL_STEP; i--) peak = Math.max(peak, Math.abs(data[i]));
      peaks[step] = peak;
    }
    tails.set(data, peaks);
  }
  return peaks;
}

/**
 * The synthesiser's voice table, when this version exposes it as the sampler expects (it is not
 * public API): the sampler ends voices that have faded out of hearing. Null when the shape differs,
 * and the voices then ring to the synthesiser's own end.
 */
export function voiceTable(synth: SpessaSynthProcessor): VoiceState[] | null {
  const voices = (synth as unknown as { synthCore?: { voices?: unknown } }).synthCore?.voices;
  if (!Array.isArray(voices) || voices.length === 0) return null;
  const first = voices[0] as Partial<VoiceState> | undefined;
  const shaped =
    typeof first?.isActive === 'boolean' &&
    typeof first.isInRelease === 'boolean' &&
    typeof first.volEnv?.attenuationCb === 'number' &&
    typeof first.volEnv.state === 'number' &&
    typeof first.wavetable?.isLooping === 'boolean' &&
    typeof first.wavetable.cursor === 'number';
  return shaped ? (voices as VoiceState[]) : null;
}

/**
 * Ends the voices that can no longer be heard: 60 dB under their peak by their envelope, times, for
 * a one-shot sample (a cymbal, a timpani), the loudest the rest of the sample gets. Only a falling
 * envelope counts (hold onwards, or released). The synthesiser skips inactive voices from its next call.
 */
export function endInaudibleVoices(voices: VoiceState[], cap: number): void {
  for (let i = 0; i < cap; i++) {
    const voice = voices[i];
    if (!voice.isActive || (!voice.isInRelease && voice.volEnv.state < 2)) continue;
    let level = 10 ** (-voice.volEnv.attenuationCb / 200);
    const { isLooping, sampleData, cursor } = voice.wavetable;
    if (!isLooping && sampleData && sampleData.length > 0) {
      const peaks = samplePeaksFrom(sampleData);
      const step = Math.min(peaks.length - 1, Math.max(0, Math.floor(cursor / TAIL_STEP)));
      level *= peaks[0] > 0 ? peaks[step] / peaks[0] : 0;
    }
    if (level < INAUDIBLE) voice.isActive = false;
  }
}

const processors = new WeakMap<BasicSoundBank, Map<number, SpessaSynthProcessor>>();

/** One synthesiser per bank and rate, kept for the thread's life: its voice cache makes later renders faster. */
async function processorFor(bank: BasicSoundBank, sampleRate: number): Promise<SpessaSynthProcessor> {
  let byRate = processors.get(bank);
  if (!byRate) processors.set(bank, (byRate = new Map<number, SpessaSynthProcessor>()));
  let synth = byRate.get(sampleRate);
  if (!synth) {
    // The built-in reverb and chorus are off: they cost most of the render time, and the chain below does both.
    synth = new SpessaSynthProcessor(sampleRate, { effectsEnabled: false, eventsEnabled: false, maxBufferSize: BLOCK });
    // Every call walks the whole voice table: a cap near the arrangements' real peak (~60) keeps that walk short.
    synth.setSystemParameter('voiceCap', VOICE_CAP);
    // Linear interpolation: the samples are keyed every few semitones, so the pitch ratios stay near 1 and the
    // difference from Hermite sits far under an MP3 preview's noise; it saves a fifth of the voice cost.
    synth.setSystemParameter('interpolationType', InterpolationTypes.linear);
    synth.soundBankManager.addSoundBank(bank, 'main');
    byRate.set(sampleRate, synth);
  }
  // SF3 samples are Vorbis: rendering before the decoder is ready gives silence.
  await synth.processorInitialized;
  return synth;
}

/**
 * Plays a Score through the soundfont: each track on its MIDI channel with its program (or drum
 * kit), volume and pan, every note on its exact frame; then the style's chain (a shared reverb fed
 * by each track's send, lofi's low-pass and vinyl, synthwave's gated snare) and a finish that
 * leaves the mastering stage 3 dB of headroom. Exactly `totalFrames` long, stereo.
 */
export async function renderScore(score: Score, bank: BasicSoundBank, totalFrames: number, sampleRate: number): Promise<[Float32Array, Float32Array]> {
  const synth = await processorFor(bank, sampleRate);
  synth.stopAllChannels(true);
  synth.reset();
  for (const track of score.tracks) {
    synth.controllerChange(track.channel, BANK_SELECT, 0);
    synth.programChange(track.channel, track.program);
    synth.controllerChange(track.channel, VOLUME, Math.round(track.volume * 127));
    synth.controllerChange(track.channel, PAN, Math.max(0, Math.min(127, Math.round(64 + track.pan * 63))));
    synth.controllerChange(track.channel, REVERB_SEND, 0);
    synth.controllerChange(track.channel, CHORUS_SEND, 0);
    synth.controllerChange(track.channel, RELEASE_TIME, track.release);
  }
  const chain = STYLE_SOUNDS[score.style].chain;

  // Tracks with the same reverb send share a bus: the synthesiser adds their voices straight into it,
  // and each bus is mixed (dry, and into the reverb send) once per chunk. The gated snare needs the kit on its own.
  const busKeys: number[] = [];
  const channelBus = new Int8Array(CHANNELS).fill(-1);
  const load: number[] = [];
  for (const track of score.tracks) {
    const key = chain.gatedSnare && track.channel === DRUM_CHANNEL ? -1 : track.reverb;
    let bus = busKeys.indexOf(key);
    if (bus < 0) bus = busKeys.push(key) - 1;
    channelBus[track.channel] = bus;
    // Its voices' time, roughly: every note's length and a beat of release.
    load[bus] = (load[bus] ?? 0) + track.notes.reduce((sum, note) => sum + note.ticks + score.ppq, 0);
  }
  const busSend = busKeys.map((key) => (key < 0 ? (score.tracks.find((track) => track.channel === DRUM_CHANNEL)?.reverb ?? 0) : key));
  const drumBus = chain.gatedSnare ? busKeys.indexOf(-1) : -1;
  // The busiest bus (not the gated kit) is written straight onto the stems: it is never mixed, and its
  // reverb send is taken from the stems at the end, less the other buses' shares.
  let direct = -1;
  for (let bus = 0; bus < busKeys.length; bus++) if (bus !== drumBus && (direct < 0 || load[bus] > load[direct])) direct = bus;
  const directSend = direct >= 0 ? busSend[direct] : 0;
  const buses = busKeys.map((_, bus) => (bus === direct ? null : [new Float32Array(CHUNK), new Float32Array(CHUNK)]));
  const idle = [new Float32Array(CHUNK), new Float32Array(CHUNK)];
  const effects = [new Float32Array(CHUNK), new Float32Array(CHUNK)];

  const left = new Float32Array(totalFrames);
  const right = new Float32Array(totalFrames);
  const send = new Float32Array(Math.ceil(totalFrames / 2));
  const drums: [Float32Array, Float32Array] | null = drumBus >= 0 ? [new Float32Array(totalFrames), new Float32Array(totalFrames)] : null;
  const events = noteEvents(score, sampleRate, totalFrames);
  const voices = voiceTable(synth);
  const cap = synth.systemParameters.voiceCap;

  let next = 0;
  for (let chunk = 0; chunk < totalFrames; chunk += CHUNK) {
    const chunkEnd = Math.min(totalFrames, chunk + CHUNK);
    const stems = [left.subarray(chunk, chunk + CHUNK), right.subarray(chunk, chunk + CHUNK)];
    const outputs = Array.from({ length: CHANNELS }, (_, channel) => {
      const bus = channelBus[channel];
      return bus < 0 ? idle : (buses[bus] ?? stems);
    });
    for (let frame = chunk; frame < chunkEnd;) {
      let struck = false;
      while (next < events.length && events[next].frame <= frame) {
        const event = events[next++];
        if (event.velocity > 0) {
          synth.noteOn(event.channel, event.midi, event.velocity);
          struck = true;
        } else synth.noteOff(event.channel, event.midi);
      }
      const until = next < events.length ? events[next].frame : totalFrames;
      const count = Math.min(struck ? ATTACK_BLOCK : BLOCK, chunkEnd - frame, until - frame);
      synth.processSplit(outputs, effects[0], effects[1], frame - chunk, count);
      if (voices) endInaudibleVoices(voices, cap);
      frame += count;
    }
    const length = chunkEnd - chunk;
    for (let bus = 0; bus < buses.length; bus++) {
      const pair = buses[bus];
      if (!pair) continue;
      mixBus(pair[0], pair[1], busSend[bus] - directSend, length, chunk, left, right, send);
      if (bus === drumBus && drums) {
        drums[0].set(pair[0].subarray(0, length), chunk);
        drums[1].set(pair[1].subarray(0, length), chunk);
      }
      pair[0].fill(0, 0, length);
      pair[1].fill(0, 0, length);
    }
  }
  synth.stopAllChannels(true);

  addReverb(reverbInput(left, right, directSend, send), left, right, sampleRate, chain.reverbSeconds, chain.reverbLevel);
  if (drums) {
    const snareOnsets = score.tracks
      .filter((track) => track.channel === DRUM_CHANNEL)
      .flatMap((track) => track.notes.filter((note) => SNARES.has(note.midi)).map((note) => Math.round(tickSeconds(score, note.tick) * sampleRate)));
    addGatedReverb(drums, snareOnsets, left, right, sampleRate);
  }
  finishStem(left, right, sampleRate, {
    sections: score.sections.map((section) => ({ from: Math.round(tickSeconds(score, section.startBeat * score.ppq) * sampleRate), energy: section.energy })),
    air: chain.air,
    lowpassHz: chain.lowpassHz,
    vinyl: chain.vinyl ? { level: chain.vinyl, random: seededRandom(`${score.id}/vinyl`) } : undefined,
    reductionDb: 4,
  });
  return [left, right];
}

/**
 * Plays two bars of each style once, a style at a time with the event loop free in between, so the
 * code is compiled and the instruments' samples decoded before the first moment asks for them.
 */
export async function warmUpSampler(bank: BasicSoundBank, sampleRate: number): Promise<void> {
  for (const style of STYLE_NAMES) {
    await new Promise((resolve) => setImmediate(resolve));
    const blueprint: Blueprint = {
      id: 'warm-up',
      style,
      tempo_bpm: 120,
      key: 'C',
      sections: [
        { name: 'verse', bars: 1, energy: 0.6 },
        { name: 'chorus', bars: 1, energy: 0.9 },
      ],
      lyrics: 'la',
      voice: { voice_id: 'warm-up' },
    };
    await renderScore(arrange(blueprint), bank, 4 * sampleRate, sampleRate);
  }
}
