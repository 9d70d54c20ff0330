import { useEffect, useMemo, useRef } from 'preact/hooks';
import { STYLE_MOODS, type StyleMoodName } from '../../../libs/pipeline/src/style-moods';
import type { Take } from './take';

export interface SongChoices {
  style: StyleMoodName;
  title: string;
  lyrics: string;
}

const STYLE_LABELS: Record<StyleMoodName, string> = { cinematic: 'Cinematic', anthem: 'Anthem', lofi: 'Lo-fi', synthwave: 'Synthwave' };
const STYLE_NAMES = Object.keys(STYLE_MOODS) as StyleMoodName[];

interface Props {
  take: Take;
  choices: SongChoices;
  onChange: (choices: SongChoices) => void;
  onSubmit: () => void;
  onRedo: () => void;
}

/** The take played back, the style as four cards, an optional title and lyrics. */
export function ChoosePanel({ take, choices, onChange, onSubmit, onRedo }: Props) {
  const url = useMemo(() => URL.createObjectURL(take.blob), [take]);
  useEffect(() => () => URL.revokeObjectURL(url), [url]);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);

  return (
    <form
      class="stack"
      onSubmit={(event) => {
        event.preventDefault();
        onSubmit();
      }}
    >
      <section class="card" aria-labelledby="take-heading">
        <h2 id="take-heading" ref={heading} tabIndex={-1}>
          {take.source === 'microphone' ? 'Your take' : 'Your recording'}
        </h2>
        <audio class="take-audio" controls src={url} preload="metadata" aria-label="Play your take" />
        <button type="button" class="link-button" onClick={onRedo}>
          {take.source === 'microphone' ? 'Record again' : 'Choose another recording'}
        </button>
      </section>

      <fieldset class="card styles">
        <legend>Pick a style</legend>
        <div class="style-grid">
          {STYLE_NAMES.map((name) => (
            <label key={name} class={`style-card style-${name}`}>
              <input type="radio" name="style" value={name} checked={choices.style === name} onChange={() => onChange({ ...choices, style: name })} />
              <span class="style-name">{STYLE_LABELS[name]}</span>
              <span class="style-mood">{STYLE_MOODS[name]}</span>
            </label>
          ))}
        </div>
      </fieldset>

      <section class="card" aria-labelledby="words-heading">
        <h2 id="words-heading">Make it yours</h2>
        <label class="field">
          <span>Title (optional)</span>
          <input type="text" maxLength={200} value={choices.title} placeholder="Monday Morning Hero" onInput={(event) => onChange({ ...choices, title: event.currentTarget.value })} />
        </label>
        <label class="field">
          <span>Lyrics (optional)</span>
          <textarea rows={3} maxLength={5000} value={choices.lyrics} placeholder="A line or two for the song" onInput={(event) => onChange({ ...choices, lyrics: event.currentTarget.value })} />
        </label>
      </section>

      <button type="submit" class="primary big">
        Make my song
      </button>
    </form>
  );
}
