import { Injectable, type ExecutionContext } from '@nestjs/common';
import { ThrottlerGuard, type ThrottlerLimitDetail } from '@nestjs/throttler';
import { AppError } from '../problem/app-error';
import type { ClientRequest } from './api-key.guard';

/** The throttler of the create routes: RATE_LIMIT_CREATE_PER_MINUTE per client. */
export const CREATE_THROTTLER = 'create';

/**
 * Limits creates per API key, or per client IP when the deployment has no keys. Runs after the
 * ApiKeyGuard, which names the owner; answers 429 RATE_LIMITED with `Retry-After`.
 */
@Injectable()
export class CreateRateLimitGuard extends ThrottlerGuard {
  protected override async getTracker(request: ClientRequest & Record<string, unknown>): Promise<string> {
    return request.clientOwner ? `key:${request.clientOwner}` : `ip:${await super.getTracker(request)}`;
  }

  /** Both create routes share one count per client. */
  protected override generateKey(_context: ExecutionContext, tracker: string): string {
    return tracker;
  }

  protected override async throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    const seconds = Math.max(1, detail.timeToBlockExpire);
    throw new AppError(429, 'RATE_LIMITED', `Too many uploads: at most ${detail.limit} per minute. Try again in ${seconds} s.`, {
      headers: { 'Retry-After': String(seconds) },
      bodyUnread: true,
    });
  }
}
