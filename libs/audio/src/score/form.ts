import { parseTimeSignature, type Blueprint } from '@mcm/pipeline';
import type { ScoreSection } from './score';

const HOOK_NAME = /chorus|hook/i;

/**
 * The song's form: each section's place in bars and beats and the layers it plays. A layer the
 * blueprint's arrangement names is taken as given; otherwise the section's energy decides (drums
 * from 0.4, bass from 0.25, the lead from 0.6 when there is a melody). The voice sings in the
 * sections the arrangement gives vocals; without any, in those named chorus or hook, else in the
 * loudest ones. This is the one place those choices are made.
 */
export function scoreSections(blueprint: Blueprint): ScoreSection[] {
  const { beatsPerBar } = parseTimeSignature(blueprint.time_signature);
  const hasMelody = (blueprint.melody?.length ?? 0) > 0;
  const energies = blueprint.sections.map((section) => section.energy ?? 0.5);
  const top = Math.max(...energies);
  const arrangedVocals = blueprint.arrangement?.some((layers) => layers?.vocals === true) ?? false;
  const namedHooks = blueprint.sections.some((section) => HOOK_NAME.test(section.name));
  const defaultVocals = (index: number): boolean => {
    if (arrangedVocals) return false;
    if (namedHooks) return HOOK_NAME.test(blueprint.sections[index].name);
    return energies[index] >= top - 1e-9;
  };
  let bar = 0;
  return blueprint.sections.map((section, index) => {
    const energy = energies[index];
    const given = blueprint.arrangement?.[index] ?? {};
    const scored: ScoreSection = {
      index,
      name: section.name,
      energy,
      startBar: bar,
      bars: section.bars,
      startBeat: bar * beatsPerBar,
      beats: section.bars * beatsPerBar,
      layers: {
        drums: given.drums ?? energy >= 0.4,
        bass: given.bass ?? energy >= 0.25,
        pads: given.pads ?? true,
        lead: hasMelody && (given.lead ?? energy >= 0.6),
        vocals: given.vocals ?? defaultVocals(index),
      },
    };
    bar += section.bars;
    return scored;
  });
}

/** The sections the user's voice is sung over. */
export function hookSpans(blueprint: Blueprint): ScoreSection[] {
  return scoreSections(blueprint).filter((section) => section.layers.vocals);
}
