import { describe, expect, it } from 'vitest';
import { parsePreferWait } from './prefer-wait';

describe('parsePreferWait', () => {
  it('reads wait=N among other preferences, case and spaces aside, quoted or not', () => {
    expect(parsePreferWait('wait=10')).toBe(10);
    expect(parsePreferWait('respond-async, wait=5')).toBe(5);
    expect(parsePreferWait('handling=lenient, WAIT = "7"; foo=bar')).toBe(7);
    expect(parsePreferWait(['return=minimal', 'wait=3'])).toBe(3);
  });

  it('holds larger values to 60 seconds', () => {
    expect(parsePreferWait('wait=60')).toBe(60);
    expect(parsePreferWait('wait=61')).toBe(60);
    expect(parsePreferWait('wait=999999999999')).toBe(60);
  });

  it('ignores what is not a positive integer number of seconds', () => {
    for (const header of [undefined, '', 'wait', 'wait=', 'wait=0', 'wait=-3', 'wait=1.5', 'wait=soon', 'wait=10s', 'respond-async', 'waiting=5', ',,;'])
      expect(parsePreferWait(header), String(header)).toBeNull();
  });
});
