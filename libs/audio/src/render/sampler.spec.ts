import { describe, expect, it } from 'vitest';
import { SpessaSynthProcessor } from 'spessasynth_core';
import { endInaudibleVoices, voiceTable } from './sampler';
import { testSoundBank } from '../../../../test/support/render';

const RATE = 44_100;
const BLOCK = 256;

async function synthesiser(): Promise<SpessaSynthProcessor> {
  const synth = new SpessaSynthProcessor(RATE, { effectsEnabled: false, eventsEnabled: false, maxBufferSize: BLOCK });
  synth.soundBankManager.addSoundBank(await testSoundBank(), 'main');
  await synth.processorInitialized;
  return synth;
}

/** Plays one string-ensemble note for half a second, releases it, and counts the blocks until no voice is left. */
async function releasedNote(endInaudible: boolean): Promise<{ blocks: number; lastAttenuationCb: number }> {
  const synth = await synthesiser();
  const voices = voiceTable(synth)!;
  const out = [new Float32Array(BLOCK), new Float32Array(BLOCK)];
  const render = () => {
    synth.processSplit([out], out[0], out[1], 0, BLOCK);
    if (endInaudible) endInaudibleVoices(voices, synth.systemParameters.voiceCap);
  };
  synth.programChange(0, 48);
  synth.noteOn(0, 60, 100);
  for (let i = 0; i < RATE / 2 / BLOCK; i++) render();
  synth.noteOff(0, 60);
  let blocks = 0;
  let lastAttenuationCb = 0;
  for (; blocks < (20 * RATE) / BLOCK; blocks++) {
    render();
    if (synth.voiceCount === 0) break;
    const playing = voices.filter((voice) => voice.isActive);
    if (playing.length > 0) lastAttenuationCb = Math.max(...playing.map((voice) => voice.volEnv.attenuationCb));
  }
  return { blocks, lastAttenuationCb };
}

/** Strikes a crash cymbal on the drum channel (drums ignore note-off) and follows it until no voice is left. */
async function crash(endInaudible: boolean): Promise<{ blocks: number; peak: number; lastBlockPeak: number }> {
  const synth = await synthesiser();
  const voices = voiceTable(synth)!;
  const out = [new Float32Array(BLOCK), new Float32Array(BLOCK)];
  synth.noteOn(9, 49, 110);
  let peak = 0;
  let lastBlockPeak = 0;
  let blocks = 0;
  for (; blocks < (20 * RATE) / BLOCK; blocks++) {
    out[0].fill(0);
    out[1].fill(0);
    synth.processSplit([out], out[0], out[1], 0, BLOCK);
    if (endInaudible) endInaudibleVoices(voices, synth.systemParameters.voiceCap);
    if (synth.voiceCount === 0) break;
    lastBlockPeak = Math.max(...out[0].map(Math.abs), ...out[1].map(Math.abs));
    peak = Math.max(peak, lastBlockPeak);
  }
  return { blocks, peak, lastBlockPeak };
}

describe('the sampler', () => {
  it("reads the synthesiser's voice table in the spessasynth_core version it ships with", async () => {
    expect(voiceTable(await synthesiser())).not.toBeNull();
  });

  it('ends a one-shot sample (a crash cymbal) once the rest of it is 60 dB under its peak', async () => {
    const ended = await crash(true);
    const rung = await crash(false);
    // What was cut was already ~60 dB down; the synthesiser alone plays the sample out.
    expect(ended.lastBlockPeak).toBeLessThan(ended.peak * 10 ** (-50 / 20));
    expect(ended.lastBlockPeak).toBeGreaterThan(0);
    expect(rung.blocks).toBeGreaterThan(ended.blocks * 1.1);
  });

  it('ends a released voice once it is 60 dB under its peak instead of playing it on to −90 dB', async () => {
    const ended = await releasedNote(true);
    const rung = await releasedNote(false);
    // Until it ended, the voice was heard above −60 dB; the synthesiser alone plays on well past that.
    expect(ended.lastAttenuationCb).toBeLessThan(600);
    expect(ended.blocks).toBeGreaterThan(0);
    expect(rung.lastAttenuationCb).toBeGreaterThanOrEqual(800);
    expect(rung.blocks).toBeGreaterThan(ended.blocks * 1.2);
  });
});
