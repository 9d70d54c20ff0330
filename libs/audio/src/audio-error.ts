import { PipelineError } from '@mcm/pipeline';

export type AudioErrorCode =
  | 'AUDIO_UNDECODABLE'
  | 'AUDIO_TRUNCATED'
  | 'AUDIO_EMPTY'
  | 'AUDIO_SILENT'
  | 'AUDIO_TOO_SHORT'
  | 'AUDIO_TOO_LONG'
  | 'AUDIO_ENGINE_FAILED'
  | 'AUDIO_ENGINE_BUSY'
  | 'AUDIO_OUT_OF_MEMORY'
  | 'AUDIO_ABORTED'
  | 'AUDIO_TIMEOUT';

/** A failure of the audio engine; `retryable` tells the pipeline whether running the stage again can help. */
export class AudioError extends PipelineError {
  constructor(
    public readonly code: AudioErrorCode,
    message: string,
    public readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'AudioError';
  }
}
