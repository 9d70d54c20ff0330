import { describe, expect, it } from 'vitest';
import { bearerToken, matchingToken, tokenMatches } from './bearer-token';

const TOKEN = 'token-0123456789abcdef';

describe('bearerToken', () => {
  it.each([
    [`Bearer ${TOKEN}`, TOKEN],
    [`bearer ${TOKEN}`, TOKEN],
    [`Bearer   ${TOKEN}  `, TOKEN],
    [undefined, null],
    ['', null],
    ['Bearer', null],
    ['Bearer ', null],
    [`Basic ${TOKEN}`, null],
    [`Token ${TOKEN}`, null],
    [`Bearer ${TOKEN} extra`, null],
  ])('reads %j as %j', (header, expected) => {
    expect(bearerToken(header)).toBe(expected);
  });
});

describe('matchingToken', () => {
  const keys = ['key-aaaaaaaaaaaaaaaa', 'key-bbbbbbbbbbbbbbbb', 'key-cccccccccccccccc'];

  it('names the candidate that matches', () => {
    expect(matchingToken('key-bbbbbbbbbbbbbbbb', keys)).toBe(1);
    expect(matchingToken('key-cccccccccccccccc', keys)).toBe(2);
  });

  it('matches nothing for a near miss, a prefix, an extension, or an empty list', () => {
    expect(matchingToken('key-bbbbbbbbbbbbbbbc', keys)).toBe(-1);
    expect(matchingToken('key-bbbbbbbb', keys)).toBe(-1);
    expect(matchingToken('key-bbbbbbbbbbbbbbbbb', keys)).toBe(-1);
    expect(matchingToken('key-aaaaaaaaaaaaaaaa', [])).toBe(-1);
  });

  it('compares tokens of any length without throwing', () => {
    expect(tokenMatches('a', 'a'.repeat(1000))).toBe(false);
    expect(tokenMatches('é'.repeat(40), 'é'.repeat(40))).toBe(true);
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true);
  });
});
