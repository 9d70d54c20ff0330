import { describe, expect, it } from 'vitest';
import { STYLE_NAMES } from '../score/styles';
import { estimateAudioTempo, estimateTempo } from './tempo';
import { fourSectionBlueprint } from '../../../../test/support/blueprints';
import { renderBlueprintMono } from '../../../../test/support/render';

const RATE = 44_100;

function render(style: string, tempo: number): Promise<Float32Array> {
  return renderBlueprintMono(fourSectionBlueprint({ id: `tempo-${style}-${tempo}`, style, tempo_bpm: tempo, key: 'Am' }));
}

describe('estimateAudioTempo on rendered instrumentals', () => {
  // Slow and fast ends of the engine's 70–160 range, where a beat is easily read at half or double speed.
  const tempos = [72, 97, 128, 156];
  for (const style of STYLE_NAMES) {
    it(`${style}: reads ${tempos.join(', ')} BPM within ±2 BPM`, async () => {
      const measured: (number | undefined)[] = [];
      for (const tempo of tempos) measured.push(estimateAudioTempo(await render(style, tempo), RATE)?.bpm);
      measured.forEach((bpm, index) => expect(Math.abs((bpm ?? 0) - tempos[index]), `${style} at ${tempos[index]}: read ${bpm}`).toBeLessThanOrEqual(2));
    });
  }

  it('finds no pulse in a steady tone', () => {
    const tone = Float32Array.from({ length: RATE * 10 }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 220 * i) / RATE));
    const result = estimateAudioTempo(tone, RATE);
    expect(result === null || result.confidence < 0.3).toBe(true);
  });
});

describe('estimateTempo from hummed note onsets', () => {
  it('reads a steady quarter-note hum and needs three notes', () => {
    const notes = Array.from({ length: 8 }, (_, i) => ({ midi: 60, onset_s: 0.5 + (i * 60) / 104, duration_s: 0.4 }));
    expect(estimateTempo(notes)).toBeGreaterThanOrEqual(102);
    expect(estimateTempo(notes)).toBeLessThanOrEqual(106);
    expect(estimateTempo(notes.slice(0, 2))).toBeNull();
  });
});
