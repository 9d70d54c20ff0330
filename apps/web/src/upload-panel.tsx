import { useState } from 'preact/hooks';
import { refuseFile, type Take } from './take';

/** A file picker and a drop zone; a file that is not audio or is too large is refused before any upload. */
export function UploadPanel({ maxUploadMb, onTake }: { maxUploadMb: number; onTake: (take: Take) => void }) {
  const [problem, setProblem] = useState('');
  const [over, setOver] = useState(false);

  const choose = (file: File | undefined) => {
    if (!file) return;
    const refusal = refuseFile(file, maxUploadMb);
    setProblem(refusal ?? '');
    if (!refusal) onTake({ blob: file, filename: file.name, source: 'file' });
  };

  return (
    <section class="card" aria-labelledby="upload-heading">
      <h2 id="upload-heading">Or upload</h2>
      <label
        class={`drop${over ? ' over' : ''}`}
        onDragOver={(event) => {
          event.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(event) => {
          event.preventDefault();
          setOver(false);
          choose(event.dataTransfer?.files[0]);
        }}
      >
        <input
          type="file"
          class="visually-hidden"
          accept="audio/*,.m4a,.mp3,.wav,.ogg,.opus,.webm,.flac"
          onChange={(event) => {
            const input = event.currentTarget;
            choose(input.files?.[0]);
            input.value = '';
          }}
        />
        <span class="drop-title">Choose a recording</span>
        <span class="drop-hint">or drop it here · audio up to {maxUploadMb} MB</span>
      </label>
      {problem && (
        <p class="problem" role="alert">
          {problem}
        </p>
      )}
    </section>
  );
}
