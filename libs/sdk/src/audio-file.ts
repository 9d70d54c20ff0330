import { loadFs } from './node-fs';
import type { AudioInput } from './types';

const AUDIO_TYPES: Record<string, string> = {
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  m4a: 'audio/mp4',
  aac: 'audio/aac',
  ogg: 'audio/ogg',
  opus: 'audio/ogg',
  oga: 'audio/ogg',
  webm: 'audio/webm',
  flac: 'audio/flac',
};

export interface AudioFile {
  blob: Blob;
  filename: string;
}

function basename(path: string): string {
  return path.split(/[\\/]/).pop() || 'audio';
}

function typeFor(filename: string): string | undefined {
  const ext = filename.toLowerCase().split('.').pop() ?? '';
  return AUDIO_TYPES[ext];
}

/** Turns any accepted audio input into a Blob ready for a multipart `file` field. */
export async function toAudioFile(input: AudioInput, options: { filename?: string; contentType?: string } = {}): Promise<AudioFile> {
  if (typeof input === 'string') {
    const filename = options.filename ?? basename(input);
    const type = options.contentType ?? typeFor(filename) ?? 'application/octet-stream';
    const fs = await loadFs();
    // openAsBlob (Node >= 19.8) streams from disk instead of holding the whole clip in memory.
    const blob = typeof fs.openAsBlob === 'function' ? await fs.openAsBlob(input, { type }) : new Blob([(await fs.promises.readFile(input)) as Uint8Array<ArrayBuffer>], { type });
    return { blob, filename };
  }
  const filename = options.filename ?? (typeof File !== 'undefined' && input instanceof File ? input.name : 'audio');
  if (input instanceof Blob) {
    const type = options.contentType ?? (input.type || typeFor(filename) || 'application/octet-stream');
    return { blob: input.type === type ? input : new Blob([input], { type }), filename };
  }
  const type = options.contentType ?? typeFor(filename) ?? 'application/octet-stream';
  const bytes = input instanceof ArrayBuffer ? new Uint8Array(input) : input;
  return { blob: new Blob([bytes as Uint8Array<ArrayBuffer>], { type }), filename };
}
