import type { IncomingMessage } from 'node:http';
import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { AppError } from '../problem/app-error';

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';

/** The Idempotency-Key header as sent, or null; 400 INVALID_IDEMPOTENCY_KEY unless it is 1 to 255 visible ASCII characters. */
export function idempotencyKeyOf(request: IncomingMessage): string | null {
  const header = request.headers[IDEMPOTENCY_KEY_HEADER];
  if (header === undefined) return null;
  const key = Array.isArray(header) ? header.join(',') : header;
  if (key.length === 0 || key.length > 255 || !/^[\x21-\x7e]+$/.test(key)) {
    throw new AppError(400, 'INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1 to 255 visible ASCII characters.');
  }
  return key;
}

/** Refuses a malformed Idempotency-Key as a guard, so before the upload's body is read. */
@Injectable()
export class IdempotencyKeyGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    idempotencyKeyOf(context.switchToHttp().getRequest<IncomingMessage>());
    return true;
  }
}
