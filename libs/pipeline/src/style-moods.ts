/**
 * The four styles a moment can take, each in a line a person choosing one can read: music-tools'
 * `list_styles` and the page's style cards both read it. No imports, so the page bundles it as is.
 */
export const STYLE_MOODS = {
  cinematic: 'Film score that swells into the chorus',
  anthem: 'Stadium pop-rock with driving drums and a big chorus',
  lofi: 'Mellow, swung lo-fi hip-hop',
  synthwave: '80s synthwave with pulsing arpeggios',
} as const;

export type StyleMoodName = keyof typeof STYLE_MOODS;
