import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { map, type Observable } from 'rxjs';

/** A strong entity tag of a JSON representation: its bytes, hashed. */
export function entityTag(json: string): string {
  return `"${createHash('sha1').update(json).digest('base64url')}"`;
}

/**
 * Whether an `If-None-Match` header names `tag` (RFC 9110 §13.1.2): `*`, or a list of entity tags
 * compared weakly, so `W/"x"` matches `"x"`.
 */
export function noneMatchHits(header: string | string[] | undefined, tag: string): boolean {
  if (header === undefined) return false;
  const opaque = (value: string) => value.trim().replace(/^W\//, '');
  const wanted = opaque(tag);
  return ([] as string[])
    .concat(header)
    .flatMap((value) => value.split(','))
    .some((value) => value.trim() === '*' || opaque(value) === wanted);
}

/**
 * Conditional reads for a JSON route: the answer carries an `ETag` of its bytes and
 * `Cache-Control: private, no-cache`, and a request whose `If-None-Match` names that tag gets
 * `304 Not Modified` with no body. The body is serialised once, here, for both the tag and the wire.
 * Presigned URLs are reused for half their life, so a moment that did not change keeps its tag
 * until its URLs are renewed.
 */
@Injectable()
export class EntityTagInterceptor implements NestInterceptor {
  /** Bodies already serialised, by the object answered: a handler that answers the same object again (a cached view) is not serialised or hashed again. */
  private readonly serialised = new WeakMap<object, { json: string; tag: string }>();

  intercept(context: ExecutionContext, next: CallHandler<unknown>): Observable<unknown> {
    const http = context.switchToHttp();
    const request = http.getRequest<IncomingMessage>();
    const response = http.getResponse<ServerResponse>();
    return next.handle().pipe(
      map((body) => {
        const { json, tag } = this.serialise(body);
        response.setHeader('ETag', tag);
        response.setHeader('Cache-Control', 'private, no-cache');
        response.setHeader('Content-Type', 'application/json; charset=utf-8');
        if (noneMatchHits(request.headers['if-none-match'], tag)) return new Response(null, { status: 304 });
        return json;
      }),
    );
  }

  private serialise(body: unknown): { json: string; tag: string } {
    const known = typeof body === 'object' && body !== null ? this.serialised.get(body) : undefined;
    if (known) return known;
    const json = JSON.stringify(body);
    const serialised = { json, tag: entityTag(json) };
    if (typeof body === 'object' && body !== null) this.serialised.set(body, serialised);
    return serialised;
  }
}
