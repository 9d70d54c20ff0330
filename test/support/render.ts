import { blueprintDurationSeconds, type Blueprint } from '@mcm/pipeline';
import type { BasicSoundBank } from 'spessasynth_core';
import { renderScore } from '@mcm/audio/render/sampler';
import { loadSoundBank } from '@mcm/audio/render/soundfont';
import { arrange } from '@mcm/audio/score/arrange';
import { monoOf } from '@mcm/audio/analysis/spectrum';

export const RENDER_RATE = 44_100;

let bank: Promise<BasicSoundBank> | undefined;

/** The configured soundfont, loaded once per test file. */
export function testSoundBank(): Promise<BasicSoundBank> {
  bank ??= loadSoundBank();
  return bank;
}

/** A blueprint's instrumental rendered in process, as the worker renders it: its Score through the sampler. */
export async function renderBlueprint(blueprint: Blueprint): Promise<[Float32Array, Float32Array]> {
  return renderScore(arrange(blueprint), await testSoundBank(), Math.round(blueprintDurationSeconds(blueprint) * RENDER_RATE), RENDER_RATE);
}

/** The same, as one mono signal for the estimators. */
export async function renderBlueprintMono(blueprint: Blueprint): Promise<Float32Array> {
  return monoOf(await renderBlueprint(blueprint));
}
