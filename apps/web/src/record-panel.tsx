import { useEffect, useRef, useState } from 'preact/hooks';
import { recordingFilename, type Take } from './take';

export const RECORD_LIMIT_SECONDS = 15;
const COUNTDOWN_SECONDS = 3;
const MIME_TYPES = ['audio/webm;codecs=opus', 'audio/webm', 'audio/mp4', 'audio/ogg;codecs=opus'];

type Phase = 'idle' | 'asking' | 'countdown' | 'recording' | 'denied' | 'failed';

interface Session {
  stream: MediaStream;
  context: AudioContext;
  recorder?: MediaRecorder;
  frame?: number;
  timers: number[];
}

function pickMimeType(): string | undefined {
  return MIME_TYPES.find((type) => MediaRecorder.isTypeSupported(type));
}

function microphoneProblem(error: unknown): { phase: Phase; message: string } {
  const name = error instanceof DOMException ? error.name : '';
  if (name === 'NotAllowedError' || name === 'SecurityError')
    return { phase: 'denied', message: 'The microphone is blocked for this page. Allow it in your browser’s site settings and try again, or upload a recording instead.' };
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return { phase: 'failed', message: 'No microphone was found. Plug one in, or upload a recording instead.' };
  if (name === 'NotReadableError') return { phase: 'failed', message: 'The microphone is in use by another app. Close it and try again.' };
  return { phase: 'failed', message: 'The microphone could not be started. Try again, or upload a recording instead.' };
}

function clock(seconds: number): string {
  const whole = Math.max(0, Math.floor(seconds));
  return `0:${String(whole).padStart(2, '0')}`;
}

/** The microphone: a countdown, a live level meter, a 15 s limit; the take is handed on when it stops. */
export function RecordPanel({ onTake }: { onTake: (take: Take) => void }) {
  const [phase, setPhase] = useState<Phase>('idle');
  const [message, setMessage] = useState('');
  const [count, setCount] = useState(COUNTDOWN_SECONDS);
  const [elapsed, setElapsed] = useState(0);
  const [level, setLevel] = useState(0);
  const session = useRef<Session | null>(null);
  const stopButton = useRef<HTMLButtonElement>(null);
  const supported = typeof navigator !== 'undefined' && !!navigator.mediaDevices?.getUserMedia && typeof MediaRecorder !== 'undefined';

  const release = () => {
    const current = session.current;
    session.current = null;
    if (!current) return;
    current.timers.forEach((timer) => clearTimeout(timer));
    if (current.frame) cancelAnimationFrame(current.frame);
    current.stream.getTracks().forEach((track) => track.stop());
    void current.context.close().catch(() => undefined);
    setLevel(0);
  };
  useEffect(() => release, []);

  const startRecording = (current: Session) => {
    const mimeType = pickMimeType();
    const recorder = new MediaRecorder(current.stream, mimeType ? { mimeType } : undefined);
    const chunks: Blob[] = [];
    recorder.ondataavailable = (event) => {
      if (event.data.size) chunks.push(event.data);
    };
    recorder.onstop = () => {
      const type = recorder.mimeType || mimeType || 'audio/webm';
      release();
      setPhase('idle');
      onTake({ blob: new Blob(chunks, { type }), filename: recordingFilename(type), source: 'microphone' });
    };
    current.recorder = recorder;
    recorder.start(250);
    const started = performance.now();
    setElapsed(0);
    setPhase('recording');
    const tick = () => {
      const seconds = (performance.now() - started) / 1000;
      setElapsed(Math.min(seconds, RECORD_LIMIT_SECONDS));
      if (seconds < RECORD_LIMIT_SECONDS) current.timers.push(window.setTimeout(tick, 200));
      else if (recorder.state !== 'inactive') recorder.stop();
    };
    tick();
  };

  const start = async () => {
    setMessage('');
    setPhase('asking');
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: true } });
    } catch (error) {
      const problem = microphoneProblem(error);
      setPhase(problem.phase);
      setMessage(problem.message);
      return;
    }
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 1024;
    context.createMediaStreamSource(stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const current: Session = { stream, context, timers: [] };
    session.current = current;
    const meter = () => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const sample of samples) sum += sample * sample;
      // dBFS from −60 (silence) to 0, as a share: a quiet hum still moves the bar.
      const db = 10 * Math.log10(sum / samples.length + 1e-12);
      setLevel(Math.min(1, Math.max(0, (db + 60) / 60)));
      current.frame = requestAnimationFrame(meter);
    };
    meter();
    setCount(COUNTDOWN_SECONDS);
    setPhase('countdown');
    for (let left = COUNTDOWN_SECONDS - 1; left >= 0; left--) {
      current.timers.push(
        window.setTimeout(
          () => {
            if (session.current !== current) return;
            if (left > 0) setCount(left);
            else startRecording(current);
          },
          (COUNTDOWN_SECONDS - left) * 1000,
        ),
      );
    }
  };

  useEffect(() => {
    if (phase === 'recording') stopButton.current?.focus();
  }, [phase]);

  const stop = () => {
    const recorder = session.current?.recorder;
    if (recorder && recorder.state !== 'inactive') recorder.stop();
    else {
      release();
      setPhase('idle');
    }
  };

  if (!supported) {
    return (
      <section class="card" aria-labelledby="record-heading">
        <h2 id="record-heading">Record</h2>
        <p class="notice">This browser cannot record here. Upload a recording instead.</p>
      </section>
    );
  }

  const live = phase === 'countdown' || phase === 'recording';
  return (
    <section class="card record" aria-labelledby="record-heading">
      <h2 id="record-heading">Record</h2>
      <p class="hint">Hum, sing or say your line for up to {RECORD_LIMIT_SECONDS} seconds.</p>
      <div class="mic-row">
        {live ? (
          <button ref={stopButton} type="button" class={`mic recording`} onClick={stop} aria-label={phase === 'countdown' ? 'Cancel recording' : 'Stop recording'}>
            <svg class="mic-icon" viewBox="0 0 24 24" aria-hidden="true">
              <rect x="6" y="6" width="12" height="12" rx="2.5" fill="currentColor" />
            </svg>
          </button>
        ) : (
          <button type="button" class="mic" onClick={() => void start()} disabled={phase === 'asking'} aria-label="Start recording">
            <svg class="mic-icon" viewBox="0 0 24 24" aria-hidden="true">
              <rect x="8.5" y="2.5" width="7" height="12" rx="3.5" fill="currentColor" />
              <path d="M5 11.5a7 7 0 0 0 14 0M12 18.5V21.5M8.5 21.5h7" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
            </svg>
          </button>
        )}
        <div class="mic-status">
          <p aria-live="polite" class="mic-words">
            {phase === 'idle' && 'Tap the microphone to start.'}
            {phase === 'asking' && 'Your browser will ask to use the microphone. Choose “Allow”.'}
            {phase === 'countdown' && `Get ready… ${count}`}
            {phase === 'recording' && (
              <>
                Recording <span class="timer">{clock(elapsed)}</span> / {clock(RECORD_LIMIT_SECONDS)}
              </>
            )}
            {(phase === 'denied' || phase === 'failed') && 'Microphone unavailable.'}
          </p>
          <div class="level" role="meter" aria-label="Microphone level" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(level * 100)}>
            <div class="level-fill" style={{ transform: `scaleX(${live ? level : 0})` }} />
          </div>
          {phase === 'recording' && (
            <div class="limit" aria-hidden="true">
              <div class="limit-fill" style={{ transform: `scaleX(${elapsed / RECORD_LIMIT_SECONDS})` }} />
            </div>
          )}
        </div>
      </div>
      {message && (
        <p class="problem" role="alert">
          {message}
        </p>
      )}
    </section>
  );
}
