import { describe, expect, it } from 'vitest';
import { detectKey, estimateAudioKey, keyName, parseKey, snapToScale, styleProgression } from './harmony';
import { STYLE_NAMES, type StyleName } from '../score/styles';
import { fourSectionBlueprint } from '../../../../test/support/blueprints';
import { renderBlueprintMono } from '../../../../test/support/render';

const RATE = 44_100;

function render(style: StyleName, key: string, tempo: number): Promise<Float32Array> {
  return renderBlueprintMono(fourSectionBlueprint({ id: `key-${style}-${key}`, style, tempo_bpm: tempo, key, chords: styleProgression(parseKey(key), style) }));
}

describe('estimateAudioKey on rendered instrumentals', () => {
  const keys = ['C', 'Am', 'Eb', 'F#m', 'G', 'Bbm', 'E', 'C#m'];
  // Each style reads two major and two minor keys, and every key is read in two styles.
  for (const [position, style] of STYLE_NAMES.entries()) {
    const pairs = [position, (position + 2) % (keys.length / 2)];
    const indexes = pairs.flatMap((pair) => [2 * pair, 2 * pair + 1]);
    it(`${style}: reads ${indexes.map((index) => keys[index]).join(', ')}`, async () => {
      const read: string[] = [];
      for (const index of indexes) read.push(estimateAudioKey(await render(style, keys[index], 90 + 9 * index), RATE).key);
      expect(read).toEqual(indexes.map((index) => keys[index]));
    });
  }
});

describe('key helpers', () => {
  it('finds the key of a note histogram and snaps to its scale', () => {
    // A D-major scale with the tonic triad held longest.
    const histogram = new Array<number>(12).fill(0);
    for (const [pc, weight] of [
      [2, 4],
      [4, 1],
      [6, 3],
      [7, 1],
      [9, 3],
      [11, 1],
      [1, 1],
    ])
      histogram[pc] = weight;
    expect(keyName(detectKey(histogram).key)).toBe('D');
    expect(keyName(detectKey(histogram, 'temperley').key)).toBe('D');
    expect(snapToScale(61, parseKey('Am'))).toBe(60);
    expect(snapToScale(66, parseKey('Bb'))).toBe(65);
  });
});
