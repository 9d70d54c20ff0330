import { describe, expect, it } from 'vitest';
import { AudioError } from '@mcm/audio';
import { MusicToolsError } from '@mcm/core';
import { PUBLIC_ERROR_MESSAGES, GENERIC_ERROR_MESSAGE } from '@mcm/pipeline';
import { describeFailure } from './stage-runner.service';
import { StageError } from './stages/stage-work';

describe('describeFailure', () => {
  it('gives a stage failure the sentence of its code and keeps the raw cause as detail', () => {
    const raw = 'music-tools at http://10.1.2.3:8080 is unavailable: fetch failed';
    expect(describeFailure(new MusicToolsError('MCP_UNAVAILABLE', raw, true))).toEqual({
      code: 'MCP_UNAVAILABLE',
      message: PUBLIC_ERROR_MESSAGES.MCP_UNAVAILABLE,
      retryable: true,
      detail: raw,
    });
  });

  it('keeps ffmpeg output and temp paths out of the message', () => {
    const raw = 'ffmpeg failed: /tmp/mcm-analyze-Q1w2/original: Invalid data found when processing input';
    const failure = describeFailure(new AudioError('AUDIO_UNDECODABLE', raw, false));
    expect(failure).toMatchObject({ code: 'AUDIO_UNDECODABLE', retryable: false, detail: raw });
    expect(failure.message).toBe(PUBLIC_ERROR_MESSAGES.AUDIO_UNDECODABLE);
  });

  it('describes stage errors, storage errors and unknown errors the same way', () => {
    expect(describeFailure(new StageError('STAGE_INPUT_MISSING', 'the blueprint is missing', false))).toMatchObject({
      code: 'STAGE_INPUT_MISSING',
      message: PUBLIC_ERROR_MESSAGES.STAGE_INPUT_MISSING,
      detail: 'the blueprint is missing',
    });
    const storage = Object.assign(new Error('getaddrinfo ENOTFOUND minio.internal'), { name: 'S3ServiceException' });
    expect(describeFailure(storage)).toEqual({ code: 'STORAGE_UNAVAILABLE', message: PUBLIC_ERROR_MESSAGES.STORAGE_UNAVAILABLE, retryable: true, detail: storage.message });
    expect(describeFailure(new TypeError('cannot read x of undefined'))).toEqual({ code: 'STAGE_ERROR', message: GENERIC_ERROR_MESSAGE, retryable: true, detail: 'cannot read x of undefined' });
    expect(describeFailure(Object.assign(new Error('new failure'), { code: 'SOMETHING_NEW', retryable: false }))).toMatchObject({ code: 'SOMETHING_NEW', message: GENERIC_ERROR_MESSAGE });
  });
});
