import { useEffect, useMemo, useState } from 'preact/hooks';
import { ChoosePanel, type SongChoices } from './choose-panel';
import { momentsClient, storeApiKey, storedApiKey, uploadingFetch } from './client';
import { MomentScreen } from './moment-screen';
import { describeProblem, needsApiKey } from './problems';
import { RecordPanel } from './record-panel';
import { momentPath, navigate, useRoute } from './route';
import type { PageSettings } from './settings';
import { StageSteps } from './stage-steps';
import type { Take } from './take';
import { UploadPanel } from './upload-panel';

const NO_CHOICES: SongChoices = { style: 'cinematic', title: '', lyrics: '' };

interface Upload {
  progress: number;
  problem?: string;
}

function ApiKeyField({ apiKey, onSave }: { apiKey: string; onSave: (key: string) => void }) {
  const [value, setValue] = useState(apiKey);
  return (
    <form
      class="card key"
      onSubmit={(event) => {
        event.preventDefault();
        onSave(value.trim());
      }}
    >
      <label class="field">
        <span>API key</span>
        <input type="password" autoComplete="off" spellcheck={false} value={value} onInput={(event) => setValue(event.currentTarget.value)} />
      </label>
      <p class="hint">This server asks for a key. It is kept in this browser only.</p>
      <button type="submit" class="secondary">
        Save key
      </button>
    </form>
  );
}

export function App({ settings }: { settings: PageSettings }) {
  const route = useRoute();
  const [apiKey, setApiKey] = useState(storedApiKey);
  const [askKey, setAskKey] = useState(settings.apiKeysRequired);
  // The key field is open until a key is saved, and again when the server turns the key down.
  const [editingKey, setEditingKey] = useState(() => !storedApiKey());
  const [take, setTake] = useState<Take | null>(null);
  const [choices, setChoices] = useState<SongChoices>(NO_CHOICES);
  const [upload, setUpload] = useState<Upload | null>(null);
  const client = useMemo(() => momentsClient(apiKey), [apiKey]);

  useEffect(() => {
    document.title = route.page === 'moment' ? 'Your song · Main Character Moment' : 'Main Character Moment';
  }, [route]);

  const needKey = () => {
    setAskKey(true);
    setEditingKey(true);
  };

  const saveKey = (key: string) => {
    storeApiKey(key);
    setApiKey(key);
    setEditingKey(!key);
    setUpload((current) => (current?.problem ? null : current));
  };

  const makeSong = async (chosen: Take = take!) => {
    setUpload({ progress: 0 });
    try {
      const uploader = momentsClient(
        apiKey,
        uploadingFetch((progress) => setUpload({ progress })),
      );
      const created = await uploader.createMoment(chosen.blob, {
        filename: chosen.filename,
        style: choices.style,
        title: choices.title.trim() || undefined,
        lyrics: choices.lyrics.trim() || undefined,
        idempotencyKey: crypto.randomUUID?.(),
      });
      setUpload(null);
      navigate(momentPath(created.id));
    } catch (error) {
      if (needsApiKey(error)) needKey();
      setUpload({ progress: 0, problem: describeProblem(error) });
    }
  };

  const startOver = () => {
    setTake(null);
    setUpload(null);
    setChoices(NO_CHOICES);
    navigate('/');
  };

  let content;
  if (route.page === 'moment') {
    content = (
      <MomentScreen
        key={route.id}
        client={client}
        id={route.id}
        onNeedsKey={needKey}
        onMakeAnother={startOver}
        onTryAgain={() => {
          if (take) void makeSong(take);
          navigate('/');
        }}
      />
    );
  } else if (upload) {
    content = (
      <section class="card" aria-labelledby="upload-progress-heading">
        <h1 id="upload-progress-heading">{upload.problem ? 'The upload did not go through' : 'Uploading your take…'}</h1>
        {upload.problem ? (
          <>
            <p class="problem" role="alert">
              {upload.problem}
            </p>
            <div class="actions">
              <button type="button" class="secondary" onClick={() => setUpload(null)}>
                Back
              </button>
              <button type="button" class="primary" onClick={() => void makeSong()}>
                Try again
              </button>
            </div>
          </>
        ) : (
          <>
            <div class="progress-line">
              <progress max={1} value={upload.progress} aria-label="Upload progress" /> <span>{Math.round(upload.progress * 100)}%</span>
            </div>
            <StageSteps moment={null} />
          </>
        )}
      </section>
    );
  } else if (take) {
    content = <ChoosePanel take={take} choices={choices} onChange={setChoices} onSubmit={() => void makeSong()} onRedo={() => setTake(null)} />;
  } else {
    content = (
      <div class="stack make">
        <div class="intro">
          <h1>Hum your theme song</h1>
          <p>A few seconds of your voice become a song that is all yours.</p>
        </div>
        <RecordPanel onTake={setTake} />
        <UploadPanel maxUploadMb={settings.maxUploadMb} onTake={setTake} />
      </div>
    );
  }

  return (
    <>
      <header class="top">
        <a href="/" class="brand" onClick={(event) => (event.preventDefault(), startOver())}>
          <span class="brand-mark" aria-hidden="true">
            ♪
          </span>
          Main Character Moment
        </a>
        {askKey && !editingKey && (
          <button type="button" class="link-button key-link" onClick={() => setEditingKey(true)}>
            API key
          </button>
        )}
      </header>
      <main id="main">
        {askKey && editingKey && <ApiKeyField apiKey={apiKey} onSave={saveKey} />}
        {content}
      </main>
    </>
  );
}
