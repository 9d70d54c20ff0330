import type { IncomingMessage } from 'node:http';
import type { ExecutionContext } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { IdempotencyKeyGuard, idempotencyKeyOf } from './idempotency-key';

const request = (headers: IncomingMessage['headers']) => ({ headers }) as IncomingMessage;
const context = (headers: IncomingMessage['headers']) => ({ switchToHttp: () => ({ getRequest: () => request(headers) }) }) as unknown as ExecutionContext;

describe('Idempotency-Key', () => {
  it.each([[''], ['k'.repeat(256)], ['my key'], ['schlüssel']])('refuses %j before the body is read', (key) => {
    expect(() => new IdempotencyKeyGuard().canActivate(context({ 'idempotency-key': key }))).toThrow(expect.objectContaining({ status: 400, code: 'INVALID_IDEMPOTENCY_KEY' }));
  });

  it('lets a request without a key or with 1 to 255 visible ASCII characters through, and reads the key as sent', () => {
    expect(new IdempotencyKeyGuard().canActivate(context({}))).toBe(true);
    expect(new IdempotencyKeyGuard().canActivate(context({ 'idempotency-key': 'k'.repeat(255) }))).toBe(true);
    expect(idempotencyKeyOf(request({ 'idempotency-key': 'retry-1' }))).toBe('retry-1');
    expect(idempotencyKeyOf(request({}))).toBeNull();
  });
});
