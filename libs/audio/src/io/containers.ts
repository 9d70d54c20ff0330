/**
 * The ffmpeg demuxer for each container the upload's content sniff (file-type) can name. An upload
 * is decoded as the container found, never as whatever ffmpeg would guess from its bytes.
 */
export const UPLOAD_DEMUXERS: Readonly<Record<string, string>> = Object.freeze({
  wav: 'wav',
  mp3: 'mp3',
  m4a: 'mov',
  mp4: 'mov',
  m4b: 'mov',
  mov: 'mov',
  '3gp': 'mov',
  '3g2': 'mov',
  aac: 'aac',
  ogg: 'ogg',
  oga: 'ogg',
  opus: 'ogg',
  spx: 'ogg',
  webm: 'matroska',
  mkv: 'matroska',
  flac: 'flac',
  amr: 'amr',
  aif: 'aiff',
  caf: 'caf',
  ac3: 'ac3',
});

/** The demuxer for a sniffed extension (also the one in an original's storage key), or null for anything else. */
export function uploadDemuxer(extension: string): string | null {
  return Object.hasOwn(UPLOAD_DEMUXERS, extension) ? UPLOAD_DEMUXERS[extension] : null;
}

/** Every stem the pipeline writes (vocals, instrumental) and mixes is a WAV file. */
export const STEM_FORMAT = 'wav';
