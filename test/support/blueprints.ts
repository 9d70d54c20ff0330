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

/**
 * A valid blueprint of about 150 bytes that asks for 10.6 hours of audio (about 27 GB of float
 * buffers): one section of 256 bars in 99/1 at 40 bpm. Valid by the schema; its rendering is refused.
 */
export const TEN_HOUR_BLUEPRINT: Blueprint = {
  id: 'x',
  style: 'pop',
  tempo_bpm: 40,
  key: 'C',
  time_signature: '99/1',
  sections: [{ name: 'a', bars: 256 }],
  lyrics: 'la',
  voice: { voice_id: 'v' },
};
