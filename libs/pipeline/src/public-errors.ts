import type { MomentError } from './stages';

/**
 * What a client is told when a moment fails: one sentence per stable error code, written for the
 * person who made the recording. The raw cause (host names, engine output, temp paths) stays in
 * `MomentError.detail`, which only operators see.
 */
export const PUBLIC_ERROR_MESSAGES: Readonly<Record<string, string>> = {
  // The recording
  AUDIO_UNDECODABLE: 'The recording could not be read. Try again with another recording.',
  AUDIO_EMPTY: 'The recording contains no audio.',
  AUDIO_SILENT: 'No voice was found in the recording. Hum, sing or speak a little closer to the microphone and try again.',
  AUDIO_TOO_LONG: 'The recording is longer than this service accepts.',
  AUDIO_TOO_SHORT: 'The recording has too little sound to make a song from. Hum, sing or speak for a few seconds and try again.',
  AUDIO_TRUNCATED: 'The recording breaks off partway; the file may be damaged or incomplete. Try again with the whole recording.',
  // The audio engine
  AUDIO_ENGINE_FAILED: 'The audio engine could not finish this moment.',
  AUDIO_ENGINE_BUSY: 'The audio engine was too busy to finish this moment.',
  AUDIO_ABORTED: 'The audio work for this moment was stopped before it finished.',
  AUDIO_TIMEOUT: 'The audio work for this moment took too long and was stopped.',
  AUDIO_OUT_OF_MEMORY: 'The audio work for this moment needed more memory than this service allows.',
  // The blueprint
  BLUEPRINT_INVALID: 'The song blueprint is not valid.',
  INVALID_BLUEPRINT: 'The song blueprint is not valid.',
  BLUEPRINT_TOO_LONG: 'The song described by the blueprint is longer than this service renders.',
  // The music engine (music-tools) and what it transfers
  MCP_UNAVAILABLE: 'The music engine could not be reached.',
  MCP_TIMEOUT: 'The music engine did not answer in time.',
  MCP_UNAUTHORIZED: 'The music engine refused the request.',
  MCP_BAD_RESPONSE: 'The music engine gave an answer that could not be used.',
  MCP_TOOL_ERROR: 'The music engine could not do the requested work.',
  MUSIC_TOOLS_BUSY: 'The music engine was too busy to take this moment.',
  SYNTHESIS_FAILED: 'The preview could not be mixed.',
  STEM_DOWNLOAD_FAILED: 'A rendered track could not be read for mixing.',
  STEM_TOO_LARGE: 'A rendered track is larger than the mixer accepts.',
  UPLOAD_FAILED: 'The finished preview could not be saved.',
  CANCELED: 'The work was canceled before it finished.',
  URL_NOT_ALLOWED: 'An internal transfer was refused.',
  OUTBOUND_REFUSED: 'An internal transfer was refused.',
  // The voice and music service (ElevenLabs)
  ELEVENLABS_UNAUTHORIZED: 'The voice and music service refused the request.',
  ELEVENLABS_RATE_LIMITED: 'The voice and music service is busy.',
  ELEVENLABS_UNAVAILABLE: 'The voice and music service could not be reached.',
  ELEVENLABS_TIMEOUT: 'The voice and music service did not answer in time.',
  ELEVENLABS_REJECTED: 'The voice and music service could not render this song.',
  ELEVENLABS_DISABLED: 'The voice and music service is not enabled here.',
  // The agent tools of music-tools, which answer them to an agent before any moment exists
  INVALID_AUDIO_BASE64: 'The recording was not sent in the text encoding this service reads.',
  UPLOAD_TOO_LARGE: 'The recording is larger than this service accepts.',
  API_UNREACHABLE: 'The service that makes moments could not be reached.',
  API_NOT_CONFIGURED: 'This server is not set up to make moments.',
  // The pipeline itself
  STORAGE_UNAVAILABLE: 'Storage could not be reached.',
  STAGE_INPUT_MISSING: "Part of this moment's earlier work is missing.",
  STAGE_ERROR: 'Something went wrong while making this moment.',
};

/** For codes with no sentence of their own: says nothing about the cause. */
export const GENERIC_ERROR_MESSAGE = 'Something went wrong while making this moment.';

export function publicErrorMessage(code: string): string {
  return Object.hasOwn(PUBLIC_ERROR_MESSAGES, code) ? PUBLIC_ERROR_MESSAGES[code] : GENERIC_ERROR_MESSAGE;
}

/** A stage failure as the machine stores it: the client sentence for its code, and the raw cause for operators. */
export function stageFailure(code: string, detail: string, retryable: boolean): Omit<MomentError, 'stage'> {
  return { code, message: publicErrorMessage(code), retryable, detail };
}

/**
 * The error as clients see it. The message is always the sentence of the code, never what was
 * stored, so rows written before the split (whose message was the raw cause) show no internals either.
 */
export function publicMomentError(error: MomentError | null | undefined): Omit<MomentError, 'detail'> | null {
  if (!error) return null;
  return { stage: error.stage, code: error.code, message: publicErrorMessage(error.code), retryable: error.retryable };
}

/** The raw cause for operators; rows written before the split kept it in `message`. */
export function errorDetail(error: MomentError | null | undefined): string | null {
  if (!error) return null;
  return error.detail ?? error.message;
}
