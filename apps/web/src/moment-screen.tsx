import { useEffect, useRef, useState } from 'preact/hooks';
import type { Moment, MomentsClient } from '@main-character/sdk';
import { Player } from './player';
import { describeProblem, isTransient, needsApiKey } from './problems';
import { StageSteps } from './stage-steps';

const FINISHED = new Set(['COMPLETED', 'FAILED', 'CANCELED']);

function untilRetry(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      removeEventListener('online', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    // Back online: try at once rather than wait out the backoff.
    addEventListener('online', done);
    signal.addEventListener('abort', done);
  });
}

type Connection = 'live' | 'reconnecting';

/**
 * Follows a moment live through the SDK's event stream until it ends. The stream resumes by itself
 * after a dropped connection; when it gives up (the network is gone), this starts it again after
 * the last event seen, with a backoff, and at once when the browser is back online.
 */
function useMoment(client: MomentsClient, id: string) {
  const [moment, setMoment] = useState<Moment | null>(null);
  const [problem, setProblem] = useState<unknown>(null);
  const [connection, setConnection] = useState<Connection>('live');

  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    setMoment(null);
    setProblem(null);
    void (async () => {
      let lastEventId: string | undefined;
      let delay = 1000;
      for (;;) {
        try {
          const latest = await client.getMoment(id, { signal });
          setMoment(latest);
          setConnection('live');
          if (FINISHED.has(latest.status)) return;
          for await (const event of client.streamMoment(id, { signal, lastEventId })) {
            lastEventId = event.id;
            setConnection('live');
            delay = 1000;
            // The final event is followed by a fresh read, whose presigned URLs are new.
            if (!FINISHED.has(event.moment.status)) setMoment(event.moment);
          }
        } catch (error) {
          if (signal.aborted) return;
          if (!isTransient(error)) {
            setProblem(error);
            return;
          }
          setConnection('reconnecting');
          await untilRetry(delay, signal);
          delay = Math.min(delay * 2, 15_000);
        }
      }
    })();
    return () => controller.abort();
  }, [client, id]);

  return { moment, setMoment, problem, connection };
}

function useOnline(): boolean {
  const [online, setOnline] = useState(() => navigator.onLine);
  useEffect(() => {
    const update = () => setOnline(navigator.onLine);
    addEventListener('online', update);
    addEventListener('offline', update);
    return () => {
      removeEventListener('online', update);
      removeEventListener('offline', update);
    };
  }, []);
  return online;
}

const KEY_NAMES: Record<string, string> = { m: 'minor' };

/** "A minor", "C♯ major" from "Am", "C#". */
export function keyName(key: string): string {
  const match = /^([A-G])([#b]?)(m?)$/.exec(key);
  if (!match) return key;
  const accidental = match[2] === '#' ? '♯' : match[2] === 'b' ? '♭' : '';
  return `${match[1]}${accidental} ${match[3] ? KEY_NAMES.m : 'major'}`;
}

function fileStem(title: string): string {
  return (
    title
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'my-theme-song'
  );
}

interface Props {
  client: MomentsClient;
  id: string;
  /** Makes the song again from the same take, when this page still holds it. */
  onTryAgain: () => void;
  onMakeAnother: () => void;
  onNeedsKey: () => void;
}

/** One moment: live steps while it is made, then the player, or why it stopped. */
export function MomentScreen({ client, id, onTryAgain, onMakeAnother, onNeedsKey }: Props) {
  const { moment, setMoment, problem, connection } = useMoment(client, id);
  const online = useOnline();
  const [actionProblem, setActionProblem] = useState('');
  const [canceling, setCanceling] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const status = moment?.status;

  useEffect(() => {
    if (needsApiKey(problem)) onNeedsKey();
  }, [problem]);
  useEffect(() => {
    if (status === 'COMPLETED' || status === 'FAILED' || status === 'CANCELED') heading.current?.focus();
  }, [status]);

  if (problem) {
    return (
      <section class="card" aria-labelledby="moment-heading">
        <h1 id="moment-heading">We could not open this song</h1>
        <p class="problem" role="alert">
          {describeProblem(problem)}
        </p>
        <button type="button" class="primary" onClick={onMakeAnother}>
          Make a new song
        </button>
      </section>
    );
  }

  const cancel = async () => {
    setCanceling(true);
    setActionProblem('');
    try {
      setMoment(await client.cancelMoment(id));
    } catch (error) {
      setActionProblem(describeProblem(error));
    } finally {
      setCanceling(false);
    }
  };

  const title = moment?.title || 'Your theme song';
  const analysis = moment?.analysis;
  const blueprint = moment?.blueprint_json as { key?: string; tempo_bpm?: number } | null | undefined;
  const running = !!moment && !FINISHED.has(moment.status);
  return (
    <div class="stack">
      {(!online || connection === 'reconnecting') && (
        <p class="notice" role="status">
          {online ? 'Reconnecting…' : 'You are offline. We will pick up where we left off when you are back.'}
        </p>
      )}
      <section class="card" aria-labelledby="moment-heading">
        <h1 id="moment-heading" ref={heading} tabIndex={-1}>
          {status === 'COMPLETED' ? title : status === 'FAILED' ? 'That did not work' : status === 'CANCELED' ? 'Canceled' : 'Making your song…'}
        </h1>
        {analysis && (
          <p class="facts" aria-live="polite">
            <span>
              Key <strong>{keyName(blueprint?.key ?? analysis.key)}</strong>
            </span>
            <span>
              Tempo <strong>{Math.round(blueprint?.tempo_bpm ?? analysis.tempo_bpm)} BPM</strong>
            </span>
            {moment?.style && (
              <span>
                Style <strong>{moment.style}</strong>
              </span>
            )}
          </p>
        )}

        {status === 'COMPLETED' && moment?.assets.preview ? (
          <Listen client={client} moment={moment} title={title} onMakeAnother={onMakeAnother} />
        ) : (
          <>
            <StageSteps moment={moment} />
            {running && (
              <div aria-live="polite" class="progress-line">
                <progress max={1} value={moment.progress} aria-label="Song progress" /> <span>{Math.round(moment.progress * 100)}%</span>
              </div>
            )}
          </>
        )}

        {status === 'FAILED' && (
          <>
            <p class="problem" role="alert">
              {moment?.error?.message ?? 'Something went wrong while making the song.'}
            </p>
            <div class="actions">
              <button type="button" class="primary" onClick={onTryAgain}>
                Try again
              </button>
            </div>
          </>
        )}
        {status === 'CANCELED' && (
          <div class="actions">
            <p>The song was stopped before it was finished.</p>
            <button type="button" class="primary" onClick={onMakeAnother}>
              Make another
            </button>
          </div>
        )}
        {running && (
          <div class="actions">
            <button type="button" class="secondary" onClick={() => void cancel()} disabled={canceling}>
              {canceling ? 'Canceling…' : 'Cancel'}
            </button>
          </div>
        )}
        {actionProblem && (
          <p class="problem" role="alert">
            {actionProblem}
          </p>
        )}
      </section>
    </div>
  );
}

function Listen({ client, moment, title, onMakeAnother }: { client: MomentsClient; moment: Moment; title: string; onMakeAnother: () => void }) {
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState('');
  const link = `${location.origin}/m/${encodeURIComponent(moment.id)}`;
  const downloads = [
    { label: 'MP3', url: moment.assets.preview, extension: 'mp3', type: 'audio/mpeg' },
    { label: 'WAV', url: moment.assets.master, extension: 'wav', type: 'audio/wav' },
    { label: 'MIDI', url: moment.assets.midi, extension: 'mid', type: 'audio/midi' },
  ];

  const save = async (label: string, url: string, extension: string, type: string) => {
    setBusy(label);
    setNote('');
    try {
      const bytes = await client.download(url);
      const href = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
      const anchor = document.createElement('a');
      anchor.href = href;
      anchor.download = `${fileStem(title)}.${extension}`;
      document.body.append(anchor);
      anchor.click();
      anchor.remove();
      setTimeout(() => URL.revokeObjectURL(href), 60_000);
    } catch (error) {
      setNote(describeProblem(error));
    } finally {
      setBusy('');
    }
  };

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(link);
      setNote('Link copied. Anyone with it can listen while the link lasts.');
    } catch {
      setNote(`Copy this link: ${link}`);
    }
  };

  return (
    <div class="listen">
      <Player client={client} src={moment.assets.preview!} peaksUrl={moment.assets.peaks} title={title} />
      <div class="downloads" role="group" aria-labelledby="downloads-label">
        <span id="downloads-label" class="downloads-label">
          Download
        </span>
        {downloads.map(
          ({ label, url, extension, type }) =>
            url && (
              <button key={label} type="button" class="secondary" disabled={busy === label} onClick={() => void save(label, url, extension, type)}>
                <span class="visually-hidden">Download </span>
                {busy === label ? `${label}…` : label}
              </button>
            ),
        )}
      </div>
      <div class="actions">
        <button type="button" class="secondary" onClick={() => void copy()}>
          Copy link
        </button>
        <button type="button" class="primary" onClick={onMakeAnother}>
          Make another
        </button>
      </div>
      <p class="note" role="status">
        {note}
      </p>
    </div>
  );
}
