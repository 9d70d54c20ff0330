import { beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import type { Analysis } from '@mcm/pipeline';
import { analyzeAudio } from '../analysis/analysis';
import { pitchContour, segmentNotes } from '../analysis/pitch';
import { monoOf } from '../analysis/spectrum';
import { closeAudioWorkers } from '../dsp.pool';
import { arrange } from '../score/arrange';
import { composeBlueprint } from '../score/compose';
import { tickSeconds } from '../score/score';
import { STYLE_NAMES } from '../score/styles';
import { renderScore } from './sampler';
import { blueprintFrames, RENDER_RATE } from './instrumental';
import { testSoundBank } from '../../../../test/support/render';
import { noteFMeasure } from '../../../../test/support/melody-score';

let analysis: Analysis;
beforeAll(async () => {
  analysis = await analyzeAudio(path.resolve(__dirname, '../../../../test/fixtures/hum-phone.m4a'), 'mov');
  await closeAudioWorkers();
}, 60_000);

describe('the hummed tune is heard: the chorus lead, rendered alone, reads back as the Score melody', () => {
  for (const style of STYLE_NAMES) {
    it(
      style,
      async () => {
        const blueprint = composeBlueprint(analysis, { momentId: `lead-${style}`, style, outputKind: 'preview' });
        const score = arrange(blueprint, analysis);
        const lead = score.tracks.find((track) => track.role === 'lead');
        expect(lead, 'a lead track').toBeDefined();
        expect(score.melody.length).toBeGreaterThan(4);
        const stem = monoOf(await renderScore({ ...score, tracks: [lead!] }, await testSoundBank(), blueprintFrames(blueprint), RENDER_RATE));
        // The analysis' own tracker and segmenter, as it reads a take.
        const heard = segmentNotes(pitchContour(stem, { sampleRate: RENDER_RATE }));
        const reference = score.melody.map((note) => ({ midi: note.midi, onset_s: tickSeconds(score, note.tick) }));
        const readBack = noteFMeasure(reference, heard, { onsetTolerance: 0.05, pitchToleranceCents: 50 });
        process.stdout.write(`${style}: lead read back F ${readBack.f_measure.toFixed(3)} (${readBack.matched}/${reference.length} notes, ${heard.length} heard)\n`);
        expect(readBack.f_measure).toBeGreaterThanOrEqual(0.9);
      },
      60_000,
    );
  }
});
