import { createHash, timingSafeEqual } from 'node:crypto';

const BEARER = /^Bearer[ ]+(\S+)\s*$/i;

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** The token of an `Authorization: Bearer <token>` header; null for a missing header or another scheme. */
export function bearerToken(header: string | undefined): string | null {
  return BEARER.exec(header ?? '')?.[1] ?? null;
}

/**
 * The index of the candidate `given` equals, or -1. Both sides are hashed to equal length and every
 * candidate is compared, so timing tells neither the token's length nor which candidate came close.
 */
export function matchingToken(given: string, candidates: readonly string[]): number {
  const presented = digest(given);
  let match = -1;
  candidates.forEach((candidate, index) => {
    if (timingSafeEqual(presented, digest(candidate)) && match < 0) match = index;
  });
  return match;
}

/** True when `given` equals `expected`, compared in constant time. */
export function tokenMatches(given: string, expected: string): boolean {
  return matchingToken(given, [expected]) === 0;
}
