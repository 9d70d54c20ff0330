import { describe, expect, it } from 'vitest';
import { blueprintDurationSeconds, renderTooLong, nestsDeeperThan, validateBlueprint } from './blueprint.schema';

const original = {
  id: 'bp-1',
  style: 'cinematic',
  tempo_bpm: 120,
  key: 'F#m',
  sections: [
    { name: 'intro', bars: 4 },
    { name: 'chorus', bars: 8, energy: 0.9, prompt: 'big drums' },
  ],
  lyrics: 'This is my moment',
  voice: { voice_id: 'abc', stability: 0.5, similarity_boost: 0.7, style_exaggeration: 0.2 },
};

describe('blueprint schema', () => {
  it('accepts a blueprint of the original service and fills its defaults', () => {
    const result = validateBlueprint(original);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.blueprint.time_signature).toBe('4/4');
    expect(result.blueprint.sections[0].energy).toBe(0.5);
    expect(result.blueprint.voice).toMatchObject({ model_id: 'eleven_multilingual_v2', speaker_boost: true });
    expect(result.blueprint.metadata).toEqual({});
    expect(original).not.toHaveProperty('time_signature');
  });

  it.each([
    [{ tempo_bpm: 39 }, '/tempo_bpm'],
    [{ tempo_bpm: 120.5 }, '/tempo_bpm'],
    [{ key: 'H' }, '/key'],
    [{ key: 'Cmaj' }, '/key'],
    [{ time_signature: '4-4' }, '/time_signature'],
    [{ sections: [] }, '/sections'],
    [{ sections: [{ name: 'a', bars: 0 }] }, '/sections/0/bars'],
    [{ sections: [{ name: 'a', bars: 2, energy: 1.5 }] }, '/sections/0/energy'],
    [{ sections: [{ name: 'a', bars: 2, mood: 'sad' }] }, '/sections/0/mood'],
    [{ lyrics: '' }, '/lyrics'],
    [{ voice: {} }, '/voice/voice_id'],
    [{ voice: { voice_id: 'v', stability: 2 } }, '/voice/stability'],
    [{ colour: 'blue' }, '/colour'],
    [{ id: 'x'.repeat(129) }, '/id'],
  ])('refuses %j and names %s', (change, path) => {
    const result = validateBlueprint({ ...original, ...change });
    expect(result.ok).toBe(false);
    expect(result.errors.map((error) => error.path)).toContain(path);
  });

  it('names a missing required field', () => {
    const { lyrics: _lyrics, ...withoutLyrics } = original;
    const result = validateBlueprint(withoutLyrics);
    expect(result.errors).toEqual([{ path: '/lyrics', message: 'is required' }]);
  });

  it('refuses what is not an object', () => {
    for (const value of [null, 'text', 42, [original]]) expect(validateBlueprint(value).ok).toBe(false);
  });

  it('computes the duration from bars, meter and tempo', () => {
    expect(
      blueprintDurationSeconds({
        tempo_bpm: 120,
        sections: [
          { name: 'a', bars: 4 },
          { name: 'b', bars: 8 },
        ],
      }),
    ).toBe(24);
    expect(blueprintDurationSeconds({ tempo_bpm: 90, time_signature: '6/8', sections: [{ name: 'a', bars: 10 }] })).toBe(40);
  });

  it('bounds the render length: the 146-byte blueprint of 256 bars of 99/1 at 40 bpm asks for 10.6 hours', () => {
    const huge = { ...original, tempo_bpm: 40, time_signature: '99/1', sections: [{ name: 'a', bars: 256 }] };
    expect(validateBlueprint(huge).ok).toBe(true);
    expect(renderTooLong(huge, 300)).toEqual({
      code: 'BLUEPRINT_TOO_LONG',
      message: 'The blueprint asks for 10.6 hours of audio; at most 300 seconds can be rendered.',
      seconds: 38_016,
      maxSeconds: 300,
    });
    // Exactly at the limit renders; one beat more does not.
    const atLimit = { tempo_bpm: 120, sections: [{ name: 'a', bars: 150 }] };
    expect(blueprintDurationSeconds(atLimit)).toBe(300);
    expect(renderTooLong(atLimit, 300)).toBeNull();
    expect(renderTooLong({ ...atLimit, time_signature: '5/4' }, 300)?.message).toBe('The blueprint asks for 6.3 minutes of audio; at most 300 seconds can be rendered.');
  });

  it('refuses nesting deeper than 32 levels however it arrives, without overflowing the stack', () => {
    const nestedIn = (depth: number): unknown => {
      let value: unknown = 'leaf';
      for (let i = 0; i < depth; i += 1) value = [value];
      return value;
    };
    // The blueprint object and `metadata` are two levels: 30 arrays inside reach exactly 32.
    expect(validateBlueprint({ ...original, metadata: { x: nestedIn(30) } }).ok).toBe(true);
    expect(validateBlueprint({ ...original, metadata: { x: nestedIn(31) } })).toEqual({ ok: false, errors: [{ path: '/', message: 'nests deeper than 32 levels' }] });
    expect(validateBlueprint({ ...original, metadata: { x: nestedIn(100_000) } }).ok).toBe(false);
    expect(nestsDeeperThan(`{"a":${'['.repeat(33)}${']'.repeat(33)}}`, 32)).toBe(true);
    expect(nestsDeeperThan('{"a":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', 32)).toBe(false);
  });
});
