import type { Analysis, Blueprint, BlueprintSection, SectionArrangement } from '@mcm/pipeline';
import { parseKey, styleProgression } from '../analysis/harmony';
import { placeMelody, quantisePhrase } from './melody';
import { resolveStyle, STYLE_TEMPO } from './styles';

export interface ComposeOptions {
  momentId: string;
  style?: string | null;
  title?: string | null;
  lyrics?: string | null;
  outputKind: 'preview' | 'song';
}

export const DEFAULT_STYLE = 'cinematic';
const BEATS_PER_BAR = 4;

interface SectionShape {
  name: string;
  energy: number;
  share: number;
  arrangement: SectionArrangement;
  prompt: string;
}

// Relative lengths of each section; bar counts are scaled to the target duration at the song's tempo.
const PREVIEW_FORM: SectionShape[] = [
  { name: 'intro', energy: 0.35, share: 2, arrangement: { drums: false, bass: true, pads: true, lead: false }, prompt: 'pads swell, the scene is set' },
  { name: 'verse', energy: 0.55, share: 4, arrangement: { drums: true, bass: true, pads: true, lead: false }, prompt: 'the beat comes in' },
  { name: 'chorus', energy: 0.9, share: 6, arrangement: { drums: true, bass: true, pads: true, lead: true }, prompt: 'the main character moment' },
  { name: 'outro', energy: 0.45, share: 2, arrangement: { drums: false, bass: true, pads: true, lead: false }, prompt: 'settles and fades' },
];

const SONG_FORM: SectionShape[] = [
  { name: 'intro', energy: 0.3, share: 2, arrangement: { drums: false, bass: false, pads: true, lead: false }, prompt: 'pads swell, the scene is set' },
  { name: 'verse', energy: 0.5, share: 4, arrangement: { drums: true, bass: true, pads: true, lead: false }, prompt: 'the beat comes in' },
  { name: 'pre-chorus', energy: 0.65, share: 2, arrangement: { drums: true, bass: true, pads: true, lead: false }, prompt: 'tension rises' },
  { name: 'chorus', energy: 0.9, share: 4, arrangement: { drums: true, bass: true, pads: true, lead: true }, prompt: 'the main character moment' },
  { name: 'bridge', energy: 0.55, share: 2, arrangement: { drums: true, bass: true, pads: true, lead: false }, prompt: 'a breath before the last chorus' },
  { name: 'final chorus', energy: 1, share: 4, arrangement: { drums: true, bass: true, pads: true, lead: true }, prompt: 'everything at once' },
  { name: 'outro', energy: 0.4, share: 2, arrangement: { drums: false, bass: true, pads: true, lead: false }, prompt: 'settles and fades' },
];

/** Splits a bar total over the form's shares, giving each section at least one bar and even bar counts where possible. */
function distributeBars(form: SectionShape[], totalBars: number): number[] {
  const shareSum = form.reduce((sum, section) => sum + section.share, 0);
  const bars = form.map((section) => Math.max(1, Math.round((section.share / shareSum) * totalBars)));
  let difference = totalBars - bars.reduce((sum, count) => sum + count, 0);
  // Adjust the longest sections first so the small ones keep their shape.
  const order = form.map((_, index) => index).sort((a, b) => form[b].share - form[a].share || a - b);
  for (let step = 0; difference !== 0 && step < 1000; step++) {
    const index = order[step % order.length];
    if (difference > 0) {
      bars[index]++;
      difference--;
    } else if (bars[index] > 1) {
      bars[index]--;
      difference++;
    }
  }
  return bars;
}

function lyricsFor(options: ComposeOptions): string {
  const given = options.lyrics?.trim();
  if (given) return given;
  const title = options.title?.trim();
  if (title) return `${title}, this is my moment`;
  const style = options.style?.trim();
  return style ? `This is my ${style} moment` : 'This is my moment';
}

/**
 * Turns an analysis into a blueprint: tempo and key from the take (the style's home tempo when the take
 * shows no pulse), the style's progression in that key, a form that rises to the chorus, and the hummed
 * melody on the beat grid, played by the lead in every chorus. Same input, same blueprint.
 */
export function composeBlueprint(analysis: Analysis, options: ComposeOptions): Blueprint {
  const style = options.style?.trim() || DEFAULT_STYLE;
  const preset = resolveStyle(style);
  const tempo = Math.min(220, Math.max(40, Math.round(analysis.tempo_source === 'style' ? STYLE_TEMPO[preset] : analysis.tempo_bpm)));
  const key = parseKey(analysis.key);
  const form = options.outputKind === 'song' ? SONG_FORM : PREVIEW_FORM;
  const targetSeconds = options.outputKind === 'song' ? 75 : 30;
  const [minSeconds, maxSeconds] = options.outputKind === 'song' ? [60, 90] : [24, 36];
  const barSeconds = (BEATS_PER_BAR * 60) / tempo;
  const totalBars = Math.max(form.length, Math.min(Math.floor(maxSeconds / barSeconds), Math.max(Math.ceil(minSeconds / barSeconds), Math.round(targetSeconds / barSeconds))));
  const barCounts = distributeBars(form, totalBars);
  const sections: BlueprintSection[] = form.map((shape, index) => ({ name: shape.name, bars: barCounts[index], energy: shape.energy, prompt: shape.prompt }));

  const phrase = quantisePhrase(analysis, tempo, key).notes;
  let startBeat = 0;
  const placed = form.map((shape, index) => {
    const section = { startBeat, beats: barCounts[index] * BEATS_PER_BAR, lead: shape.arrangement.lead ?? false };
    startBeat += section.beats;
    return section;
  });
  const melody = placeMelody(phrase, placed, BEATS_PER_BAR);

  const blueprint: Blueprint = {
    id: options.momentId,
    style: style.slice(0, 120),
    tempo_bpm: tempo,
    key: analysis.key,
    time_signature: `${BEATS_PER_BAR}/4`,
    sections,
    lyrics: lyricsFor(options),
    voice: { voice_id: 'local-voice' },
    metadata: {
      output_kind: options.outputKind,
      tempo_source: analysis.tempo_source,
      key_confidence: analysis.key_confidence,
      sound: preset,
      ...(options.title?.trim() ? { title: options.title.trim() } : {}),
    },
    chords: styleProgression(key, preset),
    arrangement: form.map((shape) => ({ ...shape.arrangement, lead: shape.arrangement.lead && melody.length > 0 })),
    mix: { vocal_gain_db: 0, ducking: 0.5, fade_out_seconds: 2 },
  };
  if (melody.length) blueprint.melody = melody;
  return blueprint;
}
