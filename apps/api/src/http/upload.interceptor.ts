import type { IncomingMessage } from 'node:http';
import { createParamDecorator, Inject, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { from, lastValueFrom, type Observable } from 'rxjs';
import { APP_CONFIG, type ApiConfig } from '@mcm/core';
import type { ReceivedUpload } from '../services/create-moment.command';
import { receiveMultipart } from './multipart-upload';

/** A create request once its body is received: the text fields as `body`, the file as `upload`. */
export interface UploadRequest extends IncomingMessage {
  body?: Record<string, string>;
  upload?: ReceivedUpload;
}

/**
 * Takes a create's multipart body off the wire before the handler runs: the fields become the
 * request body (validated as the form DTO), the file a `ReceivedUpload`. The temporary file is
 * removed once the handler has answered or failed, before the answer leaves.
 */
@Injectable()
export class UploadInterceptor implements NestInterceptor {
  constructor(@Inject(APP_CONFIG) private readonly config: Pick<ApiConfig, 'MAX_UPLOAD_MB'>) {}

  async intercept(context: ExecutionContext, next: CallHandler<unknown>): Promise<Observable<unknown>> {
    const request = context.switchToHttp().getRequest<UploadRequest>();
    const { upload, fields, cleanup } = await receiveMultipart(request, this.config.MAX_UPLOAD_MB);
    request.body = fields;
    request.upload = upload;
    return from(
      (async () => {
        try {
          return await lastValueFrom(next.handle(), { defaultValue: undefined });
        } finally {
          await cleanup();
        }
      })(),
    );
  }
}

/** The recording the UploadInterceptor received for this request. */
export const UploadedRecording = createParamDecorator((_data: unknown, context: ExecutionContext): ReceivedUpload => {
  const { upload } = context.switchToHttp().getRequest<UploadRequest>();
  // Only the interceptor sets it: a route without it is a wiring mistake, not a client error.
  if (!upload) throw new Error('UploadedRecording needs the UploadInterceptor on its route');
  return upload;
});
