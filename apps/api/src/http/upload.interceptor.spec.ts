import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { ExecutionContext } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { defer, lastValueFrom, throwError } from 'rxjs';
import { describe, expect, it, vi } from 'vitest';
import { multipart, multipartRequest } from '../../../../test/support/multipart';
import { refusal } from '../../../../test/support/refusal';
import { AppError } from '../problem/app-error';
import { UploadInterceptor, UploadedRecording, type UploadRequest } from './upload.interceptor';

const context = (request: UploadRequest) => ({ switchToHttp: () => ({ getRequest: () => request }) }) as unknown as ExecutionContext;
const interceptor = new UploadInterceptor({ MAX_UPLOAD_MB: 1 });
const recording = Buffer.alloc(3000, 5);
const createRequest = () =>
  multipartRequest(
    multipart([
      { name: 'style', value: 'lofi' },
      { name: 'file', filename: 'hum.m4a', data: recording },
    ]),
  ) as UploadRequest;

/** The factory Nest calls for a custom parameter decorator. */
function parameterFactory(decorator: () => ParameterDecorator): (data: unknown, context: ExecutionContext) => unknown {
  class Route {
    handle(@decorator() _value: unknown) {}
  }
  const args = Reflect.getMetadata(ROUTE_ARGS_METADATA, Route, 'handle') as Record<string, { factory: (data: unknown, context: ExecutionContext) => unknown }>;
  return Object.values(args)[0].factory;
}

describe('UploadInterceptor', () => {
  it('hands the handler the fields as its body and the file as a ReceivedUpload, and removes the file before the answer leaves', async () => {
    const request = createRequest();
    let seen: { body: unknown; upload: unknown; bytes: Buffer } | undefined;
    const handler = {
      handle: () =>
        defer(async () => {
          const upload = parameterFactory(UploadedRecording)(undefined, context(request)) as { path: string };
          seen = { body: request.body, upload, bytes: await readFile(upload.path) };
          return 'answer';
        }),
    };
    expect(await lastValueFrom(await interceptor.intercept(context(request), handler))).toBe('answer');
    expect(seen).toEqual({
      body: { style: 'lofi' },
      upload: { path: expect.stringMatching(/mcm-upload-/), size: recording.length, sha256: createHash('sha256').update(recording).digest('hex'), filename: 'hum.m4a' },
      bytes: recording,
    });
    await expect(stat(request.upload!.path!)).rejects.toThrow(/ENOENT/);
  });

  it('removes the file when the handler fails, and passes its error on', async () => {
    const request = createRequest();
    const refused = new AppError(422, 'AUDIO_UNDECODABLE', 'The audio cannot be decoded.');
    const answer = await interceptor.intercept(context(request), { handle: () => throwError(() => refused) });
    expect(await refusal(lastValueFrom(answer))).toBe(refused);
    await expect(stat(request.upload!.path!)).rejects.toThrow(/ENOENT/);
  });

  it('refuses a body it cannot receive before the handler runs', async () => {
    const request = multipartRequest(Buffer.from('{}'), { 'content-type': 'application/json' }) as UploadRequest;
    const handle = vi.fn();
    expect(await refusal(interceptor.intercept(context(request), { handle }))).toMatchObject({ status: 415, code: 'MULTIPART_REQUIRED' });
    expect(handle).not.toHaveBeenCalled();
    expect(request.upload).toBeUndefined();
  });

  it('gives UploadedRecording only on routes it received', () => {
    expect(() => parameterFactory(UploadedRecording)(undefined, context({} as UploadRequest))).toThrow(/UploadInterceptor/);
  });
});
