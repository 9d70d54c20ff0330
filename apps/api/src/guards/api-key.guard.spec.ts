import type { ExecutionContext } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { AppError } from '../problem/app-error';
import { ApiKeyGuard, ownerOf, type ClientRequest } from './api-key.guard';

const KEY_A = 'client-key-aaaaaaaaaaaa';
const KEY_B = 'client-key-bbbbbbbbbbbb';

function context(headers: Record<string, string>): { context: ExecutionContext; request: ClientRequest } {
  const request = { headers } as unknown as ClientRequest;
  return { request, context: { switchToHttp: () => ({ getRequest: () => request }) } as unknown as ExecutionContext };
}

function refusal(guard: ApiKeyGuard, headers: Record<string, string>): string {
  try {
    guard.canActivate(context(headers).context);
  } catch (error) {
    if (error instanceof AppError) return `${error.status} ${error.code}`;
    throw error;
  }
  return 'allowed';
}

describe('ApiKeyGuard', () => {
  it('lets anonymous clients through when no keys are configured', () => {
    const { context: ctx, request } = context({});
    expect(new ApiKeyGuard({ API_KEYS: undefined }).canActivate(ctx)).toBe(true);
    expect(request.clientOwner).toBeNull();
  });

  it('accepts a configured key as X-Api-Key or bearer and names its owner', () => {
    const guard = new ApiKeyGuard({ API_KEYS: [KEY_A, KEY_B] });
    for (const headers of [{ 'x-api-key': KEY_B }, { authorization: `Bearer ${KEY_B}` }] as Record<string, string>[]) {
      const { context: ctx, request } = context(headers);
      expect(guard.canActivate(ctx)).toBe(true);
      expect(request.clientOwner).toBe(ownerOf(KEY_B));
    }
  });

  it('refuses a missing or unknown key', () => {
    const guard = new ApiKeyGuard({ API_KEYS: [KEY_A] });
    expect(refusal(guard, {})).toBe('401 API_KEY_REQUIRED');
    expect(refusal(guard, { authorization: 'Basic abc' })).toBe('401 API_KEY_REQUIRED');
    expect(refusal(guard, { 'x-api-key': `${KEY_A}x` })).toBe('401 API_KEY_INVALID');
    expect(refusal(guard, { authorization: `Bearer ${KEY_A.slice(1)}` })).toBe('401 API_KEY_INVALID');
  });

  it('derives a short, stable owner id that does not reveal the key', () => {
    expect(ownerOf(KEY_A)).toMatch(/^[0-9a-f]{16}$/);
    expect(ownerOf(KEY_A)).toBe(ownerOf(KEY_A));
    expect(ownerOf(KEY_A)).not.toBe(ownerOf(KEY_B));
  });
});
