import type { IncomingMessage } from 'node:http';
import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { APP_CONFIG, bearerToken, tokenMatches, type ApiConfig } from '@mcm/core';
import { AppError } from '../problem/app-error';

/**
 * Admin routes need `Authorization: Bearer <ADMIN_TOKEN>`. Without a configured token the
 * admin surface does not exist: every admin route answers 404 ADMIN_DISABLED.
 */
@Injectable()
export class AdminGuard implements CanActivate {
  constructor(@Inject(APP_CONFIG) private readonly config: Pick<ApiConfig, 'ADMIN_TOKEN'>) {}

  canActivate(context: ExecutionContext): boolean {
    const expected = this.config.ADMIN_TOKEN;
    if (!expected) throw new AppError(404, 'ADMIN_DISABLED', 'The admin API is disabled: no ADMIN_TOKEN is configured.');
    const given = bearerToken(context.switchToHttp().getRequest<IncomingMessage>().headers.authorization);
    if (!given) {
      throw new AppError(401, 'UNAUTHORIZED', 'Send the admin token as `Authorization: Bearer <token>`.', {
        headers: { 'WWW-Authenticate': 'Bearer realm="admin"' },
      });
    }
    if (!tokenMatches(given, expected)) {
      throw new AppError(401, 'UNAUTHORIZED', 'The admin token is not valid.', {
        headers: { 'WWW-Authenticate': 'Bearer realm="admin", error="invalid_token"' },
      });
    }
    return true;
  }
}
