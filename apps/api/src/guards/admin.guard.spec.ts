import type { ExecutionContext } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { tokenMatches } from '@mcm/core';
import { AdminGuard } from './admin.guard';

const TOKEN = 'admin-token-0123456789';
const context = (authorization?: string) => ({ switchToHttp: () => ({ getRequest: () => ({ headers: authorization === undefined ? {} : { authorization } }) }) }) as unknown as ExecutionContext;

function outcome(guard: AdminGuard, authorization?: string) {
  try {
    return guard.canActivate(context(authorization));
  } catch (error) {
    return error;
  }
}

describe('AdminGuard', () => {
  it('lets the configured bearer token through', () => {
    expect(outcome(new AdminGuard({ ADMIN_TOKEN: TOKEN }), `Bearer ${TOKEN}`)).toBe(true);
    expect(outcome(new AdminGuard({ ADMIN_TOKEN: TOKEN }), `bearer ${TOKEN}`)).toBe(true);
  });

  it.each([undefined, '', 'Basic abc', 'Bearer', `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Token ${TOKEN}`])('answers 401 UNAUTHORIZED with WWW-Authenticate for %j', (authorization) => {
    const error = outcome(new AdminGuard({ ADMIN_TOKEN: TOKEN }), authorization);
    expect(error).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    expect((error as { extras: { headers: Record<string, string> } }).extras.headers['WWW-Authenticate']).toMatch(/^Bearer/);
  });

  it('answers 404 ADMIN_DISABLED for everyone when no token is configured', () => {
    expect(outcome(new AdminGuard({ ADMIN_TOKEN: undefined }), `Bearer ${TOKEN}`)).toMatchObject({ status: 404, code: 'ADMIN_DISABLED' });
    expect(outcome(new AdminGuard({ ADMIN_TOKEN: undefined }))).toMatchObject({ status: 404, code: 'ADMIN_DISABLED' });
  });

  it('compares digests, so tokens of any length compare safely', () => {
    expect(tokenMatches('a', 'a'.repeat(1000))).toBe(false);
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true);
  });
});
