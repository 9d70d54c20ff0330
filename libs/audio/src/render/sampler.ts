import { InterpolationTypes, SpessaSynthProcessor, type BasicSoundBank } from 'spessasynth_core';
import type { Blueprint } from '@mcm/pipeline';
import { STYLE_NAMES, STYLE_SOUNDS } from '../score/styles';
import { arrange } from '../score/arrange';
import { DRUM_CHANNEL, tickSeconds, type Score } from '../score/score';
import { seededRandom } from '../score/random';
import { addGatedReverb, addReverb, addVinyl, equalise, filters, finish, limitPeaks, sectionTone } from './chain';

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

/** Adds a chunk of every bus onto the stems (dry) and, by each bus's send, into the reverb's input. */
function mixBuses(buses: Float32Array[][], sends: number[], length: number, at: number, left: Float32Array, right: Float32Array, send: Float32Array): void {
  for (let bus = 0; bus < buses.length; bus++) {
    const busL = buses[bus][0];
    const busR = buses[bus][1];
    const amount = sends[bus] * 0.5;
    for (let i = 0; i < length; i++) {
      const l = busL[i];
      const r = busR[i];
      left[at + i] += l;
      right[at + i] += r;
      send[at + i] += (l + r) * amount;
    }
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
  for (const track of score.tracks) {
    const key = chain.gatedSnare && track.channel === DRUM_CHANNEL ? -1 : track.reverb;
    let bus = busKeys.indexOf(key);
    if (bus < 0) bus = busKeys.push(key) - 1;
    channelBus[track.channel] = bus;
  }
  const busSend = busKeys.map((key) => (key < 0 ? (score.tracks.find((track) => track.channel === DRUM_CHANNEL)?.reverb ?? 0) : key));
  const drumBus = chain.gatedSnare ? busKeys.indexOf(-1) : -1;
  const buses = busKeys.map(() => [new Float32Array(CHUNK), new Float32Array(CHUNK)]);
  const idle = [new Float32Array(CHUNK), new Float32Array(CHUNK)];
  const outputs = Array.from({ length: CHANNELS }, (_, channel) => (channelBus[channel] >= 0 ? buses[channelBus[channel]] : idle));
  const effects = [new Float32Array(CHUNK), new Float32Array(CHUNK)];

  const left = new Float32Array(totalFrames);
  const right = new Float32Array(totalFrames);
  const send = new Float32Array(totalFrames);
  const drums: [Float32Array, Float32Array] | null = drumBus >= 0 ? [new Float32Array(totalFrames), new Float32Array(totalFrames)] : null;
  const events = noteEvents(score, sampleRate, totalFrames);

  let next = 0;
  for (let chunk = 0; chunk < totalFrames; chunk += CHUNK) {
    const chunkEnd = Math.min(totalFrames, chunk + CHUNK);
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
      frame += count;
    }
    const length = chunkEnd - chunk;
    mixBuses(buses, busSend, length, chunk, left, right, send);
    if (drums) {
      drums[0].set(buses[drumBus][0].subarray(0, length), chunk);
      drums[1].set(buses[drumBus][1].subarray(0, length), chunk);
    }
    for (const [busL, busR] of buses) {
      busL.fill(0, 0, length);
      busR.fill(0, 0, length);
    }
  }
  synth.stopAllChannels(true);

  addReverb(send, left, right, sampleRate, chain.reverbSeconds, chain.reverbLevel);
  if (drums) {
    const snareOnsets = score.tracks
      .filter((track) => track.channel === DRUM_CHANNEL)
      .flatMap((track) => track.notes.filter((note) => SNARES.has(note.midi)).map((note) => Math.round(tickSeconds(score, note.tick) * sampleRate)));
    addGatedReverb(drums, snareOnsets, left, right, sampleRate);
  }
  sectionTone(
    [left, right],
    sampleRate,
    score.sections.map((section) => ({ from: Math.round(tickSeconds(score, section.startBeat * score.ppq) * sampleRate), energy: section.energy })),
  );
  if (chain.air) equalise([left, right], [filters.highShelf(5000, chain.air, sampleRate)]);
  if (chain.lowpassHz) equalise([left, right], [filters.lowpass(chain.lowpassHz, sampleRate)]);
  if (chain.vinyl) addVinyl(left, right, sampleRate, chain.vinyl, seededRandom(`${score.id}/vinyl`));
  limitPeaks(left, right, sampleRate, 4);
  finish(left, right);
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
