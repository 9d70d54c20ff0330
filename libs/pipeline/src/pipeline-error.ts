/**
 * A failure that crosses a layer or process line: a stable `code` the moment records and whether
 * running the stage again can help. Every error the stages may meet extends it, so none is guessed at.
 */
export abstract class PipelineError extends Error {
  abstract readonly code: string;
  abstract readonly retryable: boolean;
}
