import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { PipelineError, type BlueprintError } from '@mcm/pipeline';

/** A failure a caller can act on: a stable `code` and whether trying again can help. */
export class ToolFailure extends PipelineError {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    readonly errors?: BlueprintError[],
  ) {
    super(message);
    this.name = 'ToolFailure';
  }
}

/** The `isError` result every tool returns, so clients read `code` and `retryable` the same way everywhere. */
export function failureResult(failure: ToolFailure): CallToolResult {
  const structuredContent: Record<string, unknown> = {
    ok: false,
    code: failure.code,
    message: failure.message,
    retryable: failure.retryable,
  };
  if (failure.errors) structuredContent.errors = failure.errors;
  return { isError: true, content: [{ type: 'text', text: `${failure.code}: ${failure.message}` }], structuredContent };
}

export function describeErrors(errors: BlueprintError[]): string {
  return errors.map((error) => `${error.path} ${error.message}`).join('\n');
}
