import { beforeAll, describe, expect, it } from 'vitest';
import type { Blueprint } from '@mcm/pipeline';
import { stft } from '../analysis/spectrum';
import { resolveStyle, STYLE_NAMES, type StyleName } from '../score/styles';
import { onsetEnvelope } from '../analysis/tempo';
import { renderBlueprintMono } from '../../../../test/support/render';

const RATE = 44_100;

function blueprint(style: string): Blueprint {
  return {
    id: 'timbre',
    style,
    tempo_bpm: 110,
    key: 'Dm',
    sections: [
      { name: 'intro', bars: 4, energy: 0.3 },
      { name: 'verse', bars: 4, energy: 0.55 },
      { name: 'chorus', bars: 6, energy: 0.95 },
    ],
    lyrics: 'la',
    voice: { voice_id: 'local-voice' },
    melody: [0, 2, 4, 5, 7, 5, 4, 2].map((step, i) => ({ midi: 62 + step, start_beat: 32 + i, beats: 1 })),
    arrangement: [{ lead: false }, { lead: false }, { lead: true }],
  };
}

// Octave bands from 40 Hz to 10 kHz: the share of spectral energy in each, and the spectral centroid.
const BAND_EDGES = [40, 80, 160, 320, 640, 1280, 2560, 5120, 10_240];

/** Octave-band levels (dB relative to the total) and the level of everything above 1.28 kHz, where brightness lives. */
function timbre(samples: Float32Array): { bands: number[]; highDb: number } {
  const { magnitudes, frames, bins, binHz } = stft(samples, RATE, 2048, 2048);
  const bands = new Array<number>(BAND_EDGES.length - 1).fill(0);
  let high = 0;
  let total = 0;
  for (let f = 0; f < frames; f++) {
    for (let k = 1; k < bins; k++) {
      const power = magnitudes[f * bins + k] ** 2;
      const hz = k * binHz;
      if (hz >= 1280) high += power;
      total += power;
      const band = BAND_EDGES.findIndex((edge, i) => i + 1 < BAND_EDGES.length && hz >= edge && hz < BAND_EDGES[i + 1]);
      if (band >= 0) bands[band] += power;
    }
  }
  return { bands: bands.map((value) => 10 * Math.log10(value / total + 1e-12)), highDb: 10 * Math.log10(high / total + 1e-12) };
}

describe('style presets', () => {
  const renders = {} as Record<StyleName, Float32Array>;
  const timbres = {} as Record<StyleName, ReturnType<typeof timbre>>;
  const chorus = (samples: Float32Array) => samples.subarray(Math.round(((32 * 60) / 110) * RATE));
  beforeAll(async () => {
    for (const style of STYLE_NAMES) {
      renders[style] = await renderBlueprintMono(blueprint(style));
      timbres[style] = timbre(chorus(renders[style]));
    }
  }, 120_000);

  it('sound measurably different: for every pair the octave-band levels differ by ≥ 1.5 dB RMS and ≥ 3 dB in some band', () => {
    for (const [i, a] of STYLE_NAMES.entries()) {
      for (const b of STYLE_NAMES.slice(i + 1)) {
        const differences = timbres[a].bands.map((value, band) => Math.abs(value - timbres[b].bands[band]));
        const rms = Math.sqrt(differences.reduce((sum, value) => sum + value * value, 0) / differences.length);
        expect(rms, `${a} vs ${b}`).toBeGreaterThanOrEqual(1.5);
        expect(Math.max(...differences), `${a} vs ${b}`).toBeGreaterThanOrEqual(3);
      }
    }
    // Lofi is the darkest (electric piano under a tape low-pass): at least 4 dB less above 1.28 kHz than any other preset
    // (its low-pass sits where the preview still keeps a spectral slope of −5.5 dB/octave or flatter).
    for (const style of STYLE_NAMES.filter((name) => name !== 'lofi')) expect(timbres[style].highDb - timbres.lofi.highDb, style).toBeGreaterThanOrEqual(4);
  });

  it('have their own feel: lofi swings its off-beats, synthwave runs 16th notes', () => {
    const strengthAt = (samples: Float32Array, beatFraction: number) => {
      const { strength, hopSeconds } = onsetEnvelope(chorus(samples), RATE);
      const beat = 60 / 110;
      let sum = 0;
      let count = 0;
      for (let b = 0; b + 1 < (strength.length * hopSeconds) / beat; b++) {
        const frame = Math.round(((b + beatFraction) * beat) / hopSeconds);
        sum += Math.max(strength[frame - 1] ?? 0, strength[frame] ?? 0, strength[frame + 1] ?? 0);
        count++;
      }
      return sum / count;
    };
    // Swung 8ths land a third of an 8th late: more onset strength at 0.667 of the beat than at 0.5.
    expect(strengthAt(renders.lofi, 2 / 3)).toBeGreaterThan(1.5 * strengthAt(renders.lofi, 0.5));
    expect(strengthAt(renders.anthem, 0.5)).toBeGreaterThan(1.5 * strengthAt(renders.anthem, 2 / 3));
    // 16ths: the second 16th of each beat is struck in synthwave, not in anthem's 8th-note drive.
    expect(strengthAt(renders.synthwave, 0.25)).toBeGreaterThan(2 * strengthAt(renders.anthem, 0.25) * (strengthAt(renders.synthwave, 0) / strengthAt(renders.anthem, 0)));
  });

  it('map free-text styles onto the nearest preset', () => {
    expect(['epic orchestral', 'lo-fi hip hop', '80s night drive', 'stadium rock', 'polka'].map(resolveStyle)).toEqual(['cinematic', 'lofi', 'synthwave', 'anthem', 'cinematic']);
  });
});

describe('sections', () => {
  it('rise in level, density and brightness from the intro to the chorus', async () => {
    for (const style of STYLE_NAMES) {
      const samples = await renderBlueprintMono({ ...blueprint(style), melody: [] });
      const bar = Math.round(((4 * 60) / 110) * RATE);
      const intro = samples.subarray(0, 4 * bar);
      const chorus = samples.subarray(8 * bar, 14 * bar);
      const rms = (part: Float32Array) => Math.sqrt(part.reduce((sum, value) => sum + value * value, 0) / part.length);
      // Density: onsets per second above a fixed share of the loudest onset in the whole track.
      const { strength, hopSeconds } = onsetEnvelope(samples, RATE);
      const threshold = 0.15 * Math.max(...strength);
      const density = (from: number, to: number) => {
        let peaks = 0;
        for (let f = Math.round(from / RATE / hopSeconds); f < Math.round(to / RATE / hopSeconds); f++) {
          if (strength[f] > threshold && strength[f] >= strength[f - 1] && strength[f] > strength[f + 1]) peaks++;
        }
        return peaks / ((to - from) / RATE);
      };
      expect(rms(chorus), style).toBeGreaterThan(1.8 * rms(intro));
      expect(density(8 * bar, 14 * bar), style).toBeGreaterThan(2 * density(0, 4 * bar));
      // Cymbals, the second guitar, the arpeggio: far more top end in the chorus.
      expect(timbre(chorus).highDb - timbre(intro).highDb, style).toBeGreaterThan(6);
    }
  });
});
