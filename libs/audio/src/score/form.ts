import { parseTimeSignature, type Blueprint } from '@mcm/pipeline';
import type { ScoreSection } from './score';

const HOOK_NAME = /chorus|hook/i;
const VERSE_NAME = /verse/i;
// A verse this long has room for the hummed phrase and its repeat; a shorter one stays instrumental.
const SUNG_VERSE_MIN_BARS = 2;

/**
 * The song's form: each section's place in bars and beats and the layers it plays. A layer the
 * blueprint's arrangement names is taken as given; otherwise the section's energy decides (drums
 * from 0.4, bass from 0.25, the lead from 0.6 when there is a melody). The voice sings in the
 * sections the arrangement gives vocals; without any, in those named chorus or hook and in verses
 * of two bars or more, else in the loudest ones. The voice is doubled a third above in its hooks
 * (`hookSpans`). This is the one place those choices are made.
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
    const { name, bars } = blueprint.sections[index];
    if (namedHooks) return HOOK_NAME.test(name) || (VERSE_NAME.test(name) && bars >= SUNG_VERSE_MIN_BARS);
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
export function vocalSpans(blueprint: Blueprint): ScoreSection[] {
  return scoreSections(blueprint).filter((section) => section.layers.vocals);
}

/** The hooks: the sung sections named chorus or hook, else the loudest sung ones. The voice is doubled there. */
export function hookSpans(blueprint: Blueprint): ScoreSection[] {
  const sung = vocalSpans(blueprint);
  const named = sung.filter((section) => HOOK_NAME.test(section.name));
  if (named.length) return named;
  const top = Math.max(...sung.map((section) => section.energy));
  return sung.filter((section) => section.energy >= top - 1e-9);
}
