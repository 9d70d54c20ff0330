/** The four sound worlds the engine renders, and how a free-text style is mapped onto the nearest one. */
export type StyleName = 'cinematic' | 'anthem' | 'lofi' | 'synthwave';

export const STYLE_NAMES: readonly StyleName[] = ['cinematic', 'anthem', 'lofi', 'synthwave'];

// Words people type for a style, by the preset that sounds closest; checked in this order, first hit wins.
const STYLE_WORDS: [StyleName, RegExp][] = [
  ['lofi', /lo-?fi|chill|jazz|study|hip-?hop|boom-?bap|r&b|rnb|soul|bedroom|mellow|cozy|rainy|acoustic|indie/],
  ['synthwave', /synth|80s|eighties|retro|wave|neon|outrun|electro|edm|dance|disco|house|techno|cyber|night ?drive|arcade/],
  ['anthem', /anthem|rock|pop|stadium|punk|country|festival|victory|hype|power|triumph|sport|workout|metal|gospel/],
  ['cinematic', /cinema|film|movie|epic|orchestra|score|trailer|ambient|piano|classical|hero|adventure|fantasy|dramatic/],
];

/** The preset a style sounds like; anything unrecognised is cinematic (a main character's soundtrack). */
export function resolveStyle(style: string | null | undefined): StyleName {
  const text = (style ?? '').toLowerCase();
  for (const [name, words] of STYLE_WORDS) if (words.test(text)) return name;
  return 'cinematic';
}

/** Tempo used when the take has too few notes to show a pulse: the style's home tempo. */
export const STYLE_TEMPO: Record<StyleName, number> = { cinematic: 96, anthem: 124, lofi: 84, synthwave: 108 };
