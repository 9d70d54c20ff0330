import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@mcm/core';
import { AppError } from '../problem/app-error';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** Equal-length digests make the comparison take the same time whatever the token's length. */
export function tokenMatches(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * Admin routes need `Authorization: Bearer <ADMIN_TOKEN>`. Without a configured token the
 * admin surface does not exist: every admin route answers 404 ADMIN_DISABLED.
 */
@Injectable()
export class AdminGuard implements CanActivate {
  constructor(@Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'ADMIN_TOKEN'>) {}

  canActivate(context: ExecutionContext): boolean {
    const expected = this.config.ADMIN_TOKEN;
    if (!expected) throw new AppError(404, 'ADMIN_DISABLED', 'The admin API is disabled: no ADMIN_TOKEN is configured.');
    const header = context.switchToHttp().getRequest<IncomingMessage>().headers.authorization ?? '';
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (!match) {
      throw new AppError(401, 'UNAUTHORIZED', 'Send the admin token as `Authorization: Bearer <token>`.', {
        headers: { 'WWW-Authenticate': 'Bearer realm="admin"' },
      });
    }
    if (!tokenMatches(match[1], expected)) {
      throw new AppError(401, 'UNAUTHORIZED', 'The admin token is not valid.', {
        headers: { 'WWW-Authenticate': 'Bearer realm="admin", error="invalid_token"' },
      });
    }
    return true;
  }
}
