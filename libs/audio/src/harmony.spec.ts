import { describe, expect, it } from 'vitest';
import { blueprintDurationSeconds } from '@mcm/pipeline';
import { detectKey, estimateAudioKey, keyName, parseKey, snapToScale, styleProgression } from './harmony';
import { monoOf } from './spectrum';
import { STYLE_NAMES, type StyleName } from './styles';
import { synthesizeInstrumental } from './synth';
import { fourSectionBlueprint } from '../../../test/support/blueprints';

const RATE = 44_100;

function render(style: StyleName, key: string, tempo: number): Float32Array {
  const blueprint = fourSectionBlueprint({ id: `key-${style}-${key}`, style, tempo_bpm: tempo, key, chords: styleProgression(parseKey(key), style) });
  const channels = synthesizeInstrumental({ blueprint, beatsPerBar: 4, totalFrames: Math.round(blueprintDurationSeconds(blueprint) * RATE), sampleRate: RATE });
  return monoOf(channels);
}

describe('estimateAudioKey on rendered instrumentals', () => {
  const keys = ['C', 'Am', 'Eb', 'F#m', 'G', 'Bbm', 'E', 'C#m'];
  for (const style of STYLE_NAMES) {
    it(`${style}: reads ${keys.join(', ')}`, () => {
      const read = keys.map((key, index) => estimateAudioKey(render(style, key, 90 + 9 * index), RATE).key);
      expect(read.join(' ')).toBe(keys.join(' '));
    });
  }
});

describe('key helpers', () => {
  it('finds the key of a note histogram and snaps to its scale', () => {
    // A D-major scale with the tonic triad held longest.
    const histogram = new Array<number>(12).fill(0);
    for (const [pc, weight] of [[2, 4], [4, 1], [6, 3], [7, 1], [9, 3], [11, 1], [1, 1]]) histogram[pc] = weight;
    expect(keyName(detectKey(histogram).key)).toBe('D');
    expect(keyName(detectKey(histogram, 'temperley').key)).toBe('D');
    expect(snapToScale(61, parseKey('Am'))).toBe(60);
    expect(snapToScale(66, parseKey('Bb'))).toBe(65);
  });
});
