import { applyDecorators } from '@nestjs/common';
import { ApiHeader, ApiParam, ApiResponse, ApiSecurity } from '@nestjs/swagger';
import { MOMENT_ID_EXAMPLE } from '../dtos/moment.dto';
import { ApiProblem } from '../problem/api-problem.decorator';

/** Every way an upload can be refused, shared by both create routes. */
export function ApiUploadProblems() {
  return applyDecorators(
    ApiProblem(
      400,
      [
        'FILE_REQUIRED',
        'FILE_EMPTY',
        'INVALID_MULTIPART',
        'TOO_MANY_FILES',
        'UNEXPECTED_FILE_FIELD',
        'TOO_MANY_FIELDS',
        'DUPLICATE_FIELD',
        'INVALID_ENCODING',
        'VALIDATION_FAILED',
        'INVALID_IDEMPOTENCY_KEY',
      ],
      'The form is incomplete or malformed, or a text field or the file name is not UTF-8.',
    ),
    ApiProblem(
      413,
      ['UPLOAD_TOO_LARGE', 'FIELD_TOO_LARGE'],
      'The file (or a chunked body) is larger than MAX_UPLOAD_MB (refused before the body is read when Content-Length says so), or a text field is over 512 kB.',
    ),
    ApiProblem(415, ['UNSUPPORTED_MEDIA_TYPE', 'MULTIPART_REQUIRED'], 'The file is not audio (checked by content), or the body is not multipart/form-data.'),
    ApiProblem(
      422,
      [
        'AUDIO_UNDECODABLE',
        'AUDIO_TRUNCATED',
        'AUDIO_EMPTY',
        'AUDIO_TOO_SHORT',
        'AUDIO_TOO_LONG',
        'BLUEPRINT_INVALID',
        'BLUEPRINT_TOO_LONG',
        'IDEMPOTENCY_KEY_REUSED',
        'WEBHOOK_URL_INVALID',
        'WEBHOOK_URL_REFUSED',
        'WEBHOOK_URL_REQUIRED',
        'WEBHOOKS_NOT_CONFIGURED',
      ],
      'The audio cannot be used (undecodable, breaking off partway, empty, under MIN_AUDIO_SECONDS of audible sound, or over MAX_AUDIO_SECONDS), the blueprint is invalid or longer than MAX_RENDER_SECONDS, the Idempotency-Key belongs to another request, ' +
        'or the webhook cannot be taken (not an https URL, a non-public address, events without a URL, or no WEBHOOK_SECRET on this deployment).',
    ),
    ApiProblem(
      503,
      ['AUDIO_ENGINE_BUSY', 'AUDIO_CHECK_TIMEOUT', 'AUDIO_ENGINE_UNAVAILABLE'],
      'The recording could not be checked now: MAX_CONCURRENT_PROBES checks are running, or the check overran PROBE_TIMEOUT_MS. Nothing was stored; `Retry-After` says when to try again.',
    ),
  );
}

export const CLIENT_KEY_SECURITY = 'api_key';
export const CLIENT_BEARER_SECURITY = 'client_bearer';

/** Client routes: an API key when the deployment configures API_KEYS, anonymous otherwise. */
export function ApiClientKey() {
  return applyDecorators(
    ApiSecurity(CLIENT_KEY_SECURITY),
    ApiSecurity(CLIENT_BEARER_SECURITY),
    ApiSecurity({}),
    ApiProblem(401, ['API_KEY_REQUIRED', 'API_KEY_INVALID'], 'The deployment requires an API key (API_KEYS) and none, or an unknown one, was sent.'),
  );
}

export function ApiCreateRateLimit() {
  return ApiProblem(
    429,
    ['RATE_LIMITED', 'TOO_MANY_MOMENTS_IN_FLIGHT'],
    'Too many creates from this API key (or address): RATE_LIMIT_CREATE_PER_MINUTE; or, with API keys, the key already has MAX_MOMENTS_IN_FLIGHT_PER_KEY moments in progress (a replay with the same Idempotency-Key still passes). `Retry-After` says when to try again.',
  );
}

export function ApiPreferWait() {
  return ApiHeader({
    name: 'Prefer',
    required: false,
    description:
      '`wait=N` (RFC 7240 §4.3): hold the answer up to N seconds (1–60; larger values count as 60) for the moment to end. It answers 201 with the finished moment, or 202 as usual when time is up. ' +
      'The answer then carries `Preference-Applied: wait=N`; other or invalid preferences are ignored.',
    schema: { type: 'string', example: 'wait=60' },
  });
}

export function ApiIdempotencyKey() {
  return ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description:
      'Makes a retried create safe: the same key with the same request (file bytes and fields) answers with the first moment; the same key with a different request is refused (422 IDEMPOTENCY_KEY_REUSED). 1–255 visible ASCII characters.',
    schema: { type: 'string', maxLength: 255, example: 'b3f1c9e2-upload-1' },
  });
}

export function ApiMomentDeleted() {
  return ApiProblem(410, ['MOMENT_DELETED'], 'The moment was deleted; only its id remains.');
}

export function ApiMomentId() {
  return ApiParam({ name: 'id', format: 'uuid', description: 'The moment id.', example: MOMENT_ID_EXAMPLE });
}

/** The headers of an answer the EntityTagInterceptor sends, for its `@ApiOkResponse`. */
export const ENTITY_TAG_HEADERS = {
  ETag: { description: 'A tag of this exact answer; send it back as `If-None-Match` to be answered 304 while nothing changed.', schema: { type: 'string' } },
  'Cache-Control': { description: '`private, no-cache`: a client may keep the answer, and revalidates it with `If-None-Match`.', schema: { type: 'string' } },
};

/** Conditional reads (EntityTagInterceptor): `If-None-Match` and the 304 it may get. */
export function ApiConditionalRead() {
  return applyDecorators(
    ApiHeader({
      name: 'If-None-Match',
      required: false,
      description:
        'The `ETag` of an answer you hold. While the answer would be the same it is `304 Not Modified` with no body: a cheap status poll. ' +
        'Presigned URLs in the answer are reused for half of PRESIGN_TTL_SECONDS, so the tag also changes when they are renewed.',
      schema: { type: 'string', example: '"2jmj7l5rSw0yVb_vlWAYkK_YBwk"' },
    }),
    ApiResponse({ status: 304, description: 'Not Modified: the answer is the one whose tag `If-None-Match` names; no body.', headers: { ETag: ENTITY_TAG_HEADERS.ETag } }),
  );
}
