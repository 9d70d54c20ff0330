import { parseTimeSignature, type Blueprint } from '@mcm/pipeline';
import type { CompositionPlan } from './elevenlabs.client';

// ElevenLabs accepts sections of 3 s to 120 s; the rendered track is conformed to the blueprint's exact length afterwards.
const MIN_SECTION_MS = 3_000;
const MAX_SECTION_MS = 120_000;
const LAYER_WORDS: Record<string, string> = { drums: 'drums', bass: 'bass', pads: 'pads and chords', lead: 'lead melody' };

function keyWords(key: string): string {
  return key.endsWith('m') ? `${key.slice(0, -1)} minor` : `${key} major`;
}

function energyWords(energy: number): string[] {
  if (energy >= 0.85) return ['full arrangement', 'high energy', 'climactic'];
  if (energy >= 0.6) return ['driving', 'building energy'];
  if (energy >= 0.45) return ['steady groove', 'medium energy'];
  return ['sparse', 'calm', 'low energy'];
}

/** The lyrics as short lines: one per line break or sentence, so each hook section can carry some. */
function lyricLines(lyrics: string): string[] {
  return lyrics
    .split(/\r?\n|(?<=[.!?])\s+/)
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => line.slice(0, 200));
}

/**
 * An ElevenLabs composition plan that follows the blueprint: its style, tempo, key and metre as global
 * styles; one section per blueprint section with its prompt, energy and layers as local styles; and
 * the lyric lines shared out over the sections the arrangement gives vocals (all sections when none do).
 */
export function compositionPlan(blueprint: Blueprint): CompositionPlan {
  const { beatsPerBar } = parseTimeSignature(blueprint.time_signature);
  const vocal = blueprint.sections.map((section, index) => blueprint.arrangement?.[index]?.vocals ?? /chorus|hook/i.test(section.name));
  const singers = vocal.some(Boolean) ? vocal : vocal.map(() => true);
  const lines = lyricLines(blueprint.lyrics);
  const singing = singers.filter(Boolean).length;
  let next = 0;
  return {
    positive_global_styles: [blueprint.style, `${blueprint.tempo_bpm} BPM`, `${blueprint.time_signature ?? '4/4'} time signature`, keyWords(blueprint.key), 'polished modern production'],
    negative_global_styles: ['off-key', 'muddy mix', 'distorted vocals', 'spoken word'],
    sections: blueprint.sections.map((section, index) => {
      const layers = blueprint.arrangement?.[index] ?? {};
      const playing = Object.entries(LAYER_WORDS)
        .filter(([layer]) => layers[layer as keyof typeof layers] === true)
        .map(([, words]) => words);
      const silent = Object.entries(LAYER_WORDS)
        .filter(([layer]) => layers[layer as keyof typeof layers] === false)
        .map(([, words]) => `no ${words}`);
      const durationMs = Math.round(((section.bars * beatsPerBar * 60) / blueprint.tempo_bpm) * 1000);
      // Every singing section gets its share of lines, and repeats them when there are more sections than lines.
      const share = singers[index] && lines.length ? Math.max(1, Math.ceil(lines.length / singing)) : 0;
      const sectionLines = Array.from({ length: share }, () => lines[next++ % lines.length]);
      return {
        section_name: section.name,
        positive_local_styles: [...(section.prompt ? [section.prompt] : []), ...energyWords(section.energy ?? 0.5), ...playing],
        negative_local_styles: singers[index] ? silent : [...silent, 'vocals'],
        duration_ms: Math.min(MAX_SECTION_MS, Math.max(MIN_SECTION_MS, durationMs)),
        lines: sectionLines,
      };
    }),
  };
}
