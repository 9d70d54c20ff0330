import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { ServerResponse } from 'node:http';

/**
 * An AbortSignal that fires when the client goes away before its answer is written, so work done
 * only for that answer (decoding its upload) stops with it.
 */
export const ClientGone = createParamDecorator((_data: unknown, context: ExecutionContext): AbortSignal => {
  const response = context.switchToHttp().getResponse<ServerResponse>();
  const controller = new AbortController();
  // 'close' also follows a finished answer; only an unfinished one means the client left.
  response.once('close', () => {
    if (!response.writableFinished) controller.abort();
  });
  return controller.signal;
});
