import { MomentsApiError } from '@main-character/sdk';

/** Sentences for the problems a person can do something about; any other problem reads from its own detail. */
const SENTENCES: Record<string, string> = {
  UNSUPPORTED_MEDIA_TYPE: 'That file is not a recording we can read. Choose an audio file (for example M4A, MP3, WAV or WebM).',
  AUDIO_TOO_LONG: 'That recording is too long. Keep it to a few seconds of humming.',
  AUDIO_TOO_SHORT: 'We could not hear enough in that recording. Hum, sing or speak for a few seconds and try again.',
  AUDIO_UNDECODABLE: 'That recording could not be read. Try recording again or choose another file.',
  AUDIO_TRUNCATED: 'That recording breaks off partway; the file may be damaged. Try another one.',
  RATE_LIMITED: 'Too many songs at once. Wait a minute and try again.',
  TOO_MANY_MOMENTS_IN_FLIGHT: 'You already have several songs in the making. Wait for one to finish and try again.',
  AUDIO_ENGINE_BUSY: 'The studio is busy right now. Try again in a moment.',
  API_KEY_REQUIRED: 'This server needs an API key. Enter yours in the API key field and save it.',
  API_KEY_INVALID: 'That API key was not accepted. Check it and try again.',
  MOMENT_NOT_FOUND: 'We could not find that song. The link may be wrong, or it was made with another key.',
  MOMENT_DELETED: 'That song has been deleted.',
  MOMENT_NOT_CANCELABLE: 'That song is already finished, so there is nothing to cancel.',
};

/** One sentence, ending with a full stop. */
function sentence(text: string): string {
  const trimmed = text.trim().replace(/`/g, '');
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

/** What went wrong, as a sentence for the person using the page. */
export function describeProblem(error: unknown): string {
  if (error instanceof MomentsApiError) {
    const known = SENTENCES[error.code];
    if (known) return known;
    return sentence(error.problem.detail || error.problem.title || `The server answered ${error.status}`);
  }
  if (error instanceof TypeError) return 'We could not reach the server. Check your connection and try again.';
  if (error instanceof Error && error.message) return sentence(error.message);
  return 'Something went wrong. Try again.';
}

export function needsApiKey(error: unknown): boolean {
  return error instanceof MomentsApiError && (error.code === 'API_KEY_REQUIRED' || error.code === 'API_KEY_INVALID');
}

/** Worth trying again by itself: the network or the server's load, not the request. */
export function isTransient(error: unknown): boolean {
  if (error instanceof MomentsApiError) return error.status === 408 || error.status === 429 || error.status >= 500;
  return error instanceof TypeError;
}
