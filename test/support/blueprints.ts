import type { Blueprint } from '@mcm/pipeline';

/** A short song in four sections whose energy rises to the chorus, for tests that render and measure audio. */
export function fourSectionBlueprint(fields: Pick<Blueprint, 'id' | 'style' | 'tempo_bpm' | 'key'> & Partial<Blueprint>): Blueprint {
  return {
    sections: [
      { name: 'intro', bars: 2, energy: 0.35 },
      { name: 'verse', bars: 4, energy: 0.55 },
      { name: 'chorus', bars: 6, energy: 0.9 },
      { name: 'outro', bars: 2, energy: 0.45 },
    ],
    lyrics: 'la',
    voice: { voice_id: 'local-voice' },
    ...fields,
  };
}
