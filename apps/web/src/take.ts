/** A recording ready to upload: made here with the microphone, or chosen from the device. */
export interface Take {
  blob: Blob;
  filename: string;
  /** Where it came from, for the words next to it. */
  source: 'microphone' | 'file';
}

const EXTENSIONS: Record<string, string> = { 'audio/webm': 'webm', 'audio/ogg': 'ogg', 'audio/mp4': 'm4a', 'audio/mpeg': 'mp3', 'audio/wav': 'wav' };

export function recordingFilename(mimeType: string): string {
  return `my-take.${EXTENSIONS[mimeType.split(';')[0].trim()] ?? 'webm'}`;
}

/** Audio by type or, when the device does not say (some phones), by name. */
const AUDIO_NAME = /\.(m4a|mp4|aac|mp3|wav|wave|ogg|oga|opus|webm|flac|caf|3gp|amr)$/i;

/** Why a chosen file will not be uploaded, or null when it may be. The server checks the content again. */
export function refuseFile(file: File, maxUploadMb: number): string | null {
  const audio = file.type ? file.type.startsWith('audio/') || (file.type === 'video/webm' && AUDIO_NAME.test(file.name)) : AUDIO_NAME.test(file.name);
  if (!audio) return `“${file.name}” is not an audio file. Choose a recording, such as a voice memo (M4A, MP3, WAV or WebM).`;
  if (file.size === 0) return `“${file.name}” is empty. Choose another recording.`;
  if (file.size > maxUploadMb * 1024 * 1024) return `“${file.name}” is ${(file.size / 1024 / 1024).toFixed(1)} MB; recordings can be up to ${maxUploadMb} MB. A few seconds of humming is plenty.`;
  return null;
}
