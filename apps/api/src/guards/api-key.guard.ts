import { createHmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createParamDecorator, Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { APP_CONFIG, bearerToken, matchingToken, type ApiConfig } from '@mcm/core';
import { AppError } from '../problem/app-error';

/** The request after the guard: whose moments it may see. */
export interface ClientRequest extends IncomingMessage {
  /** The owner id of the client's key; null when the deployment has no API_KEYS. */
  clientOwner?: string | null;
}

/**
 * A non-reversible id of a key, stored as `moments.owner`: it names the client without the
 * database ever holding a key.
 */
export function ownerOf(apiKey: string): string {
  return createHmac('sha256', 'main-character-moment/owner').update(apiKey, 'utf8').digest('hex').slice(0, 16);
}

/** The key sent as `X-Api-Key`, or else as `Authorization: Bearer`. */
export function presentedKey(request: IncomingMessage): string | null {
  const header = request.headers['x-api-key'];
  const apiKey = Array.isArray(header) ? header[0] : header;
  if (apiKey?.trim()) return apiKey.trim();
  return bearerToken(request.headers.authorization);
}

/**
 * With `API_KEYS` configured every client route needs one of them, and each key sees only the
 * moments it created; without, clients are anonymous and the guard lets every request through.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly keys: readonly string[];
  private readonly owners: readonly string[];

  constructor(@Inject(APP_CONFIG) config: Pick<ApiConfig, 'API_KEYS'>) {
    this.keys = config.API_KEYS ?? [];
    this.owners = this.keys.map(ownerOf);
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<ClientRequest>();
    if (!this.keys.length) {
      request.clientOwner = null;
      return true;
    }
    const given = presentedKey(request);
    if (!given) {
      throw new AppError(401, 'API_KEY_REQUIRED', 'Send your API key as `X-Api-Key: <key>` or `Authorization: Bearer <key>`.', {
        headers: { 'WWW-Authenticate': 'Bearer realm="api"' },
        bodyUnread: true,
      });
    }
    const match = matchingToken(given, this.keys);
    if (match < 0) {
      throw new AppError(401, 'API_KEY_INVALID', 'The API key is not valid.', {
        headers: { 'WWW-Authenticate': 'Bearer realm="api", error="invalid_token"' },
        bodyUnread: true,
      });
    }
    request.clientOwner = this.owners[match];
    return true;
  }
}

/** The owner id the ApiKeyGuard established for this request (null: anonymous client). */
export const ClientOwner = createParamDecorator((_data: unknown, context: ExecutionContext): string | null => {
  return context.switchToHttp().getRequest<ClientRequest>().clientOwner ?? null;
});
