import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Analysis } from '@mcm/pipeline';
import { analyzeAudio } from '../analysis/analysis';
import { closeAudioWorkers } from '../dsp.pool';
import { renderInstrumental } from '../render/instrumental';
import { renderVocals } from '../render/vocals';
import { composeBlueprint } from '../score/compose';
import { STYLE_NAMES } from '../score/styles';
import { mixAndMaster } from './mix';
import { measurePreview, MIX_TARGETS, missedTargets, type PreviewMeasures } from './measures';

const fixtures = path.resolve(__dirname, '../../../../test/fixtures');
const TAKES = [
  { name: 'hum-phone', file: 'hum-phone.m4a', format: 'mov' },
  { name: 'voice-clean', file: 'voice-clean.wav', format: 'wav' },
];

let dir: string;
const measured = new Map<string, PreviewMeasures>();

// Each preview is rendered once through the real chain (analyse → compose → vocals + instrumental → mix) and measured once.
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mcm-mix-targets-'));
  for (const take of TAKES) {
    const input = path.join(fixtures, take.file);
    const analysis: Analysis = await analyzeAudio(input, take.format);
    for (const style of STYLE_NAMES) {
      const name = `${style}-${take.name}`;
      const blueprint = composeBlueprint(analysis, { momentId: `targets-${name}`, style, outputKind: 'preview' });
      const files = { instrumental: path.join(dir, `${name}-instrumental.wav`), vocals: path.join(dir, `${name}-vocals.wav`), preview: path.join(dir, `${name}.mp3`) };
      await Promise.all([renderInstrumental(blueprint, files.instrumental), renderVocals(input, blueprint, analysis, files.vocals, { format: take.format })]);
      await mixAndMaster({ blueprint, instrumental: files.instrumental, vocals: files.vocals, outPreviewMp3: files.preview, outMasterWav: path.join(dir, `${name}-master.wav`) });
      measured.set(name, await measurePreview(files, blueprint));
    }
  }
  const rows = [...measured].map(([name, m]) => `${name.padEnd(22)} ${MIX_TARGETS.map((target) => target.value(m).toFixed(2).padStart(7)).join(' ')}`);
  process.stdout.write(`mix measures (${MIX_TARGETS.map((target) => target.label).join(' | ')}):\n${rows.join('\n')}\n`);
}, 300_000);

afterAll(async () => {
  await closeAudioWorkers();
  await rm(dir, { recursive: true, force: true });
});

describe('every style from both takes meets the mix targets on its preview', () => {
  for (const take of TAKES) {
    for (const style of STYLE_NAMES) {
      it(`${style}, ${take.name}`, () => {
        const measures = measured.get(`${style}-${take.name}`);
        expect(measures).toBeDefined();
        expect(missedTargets(measures!)).toEqual([]);
      });
    }
  }

  it('lofi stays the darkest style: the least energy above 2 kHz of all', () => {
    for (const take of TAKES) {
      const lofi = measured.get(`lofi-${take.name}`)!.high_share;
      for (const style of STYLE_NAMES.filter((name) => name !== 'lofi')) expect(measured.get(`${style}-${take.name}`)!.high_share, style).toBeGreaterThan(lofi * 1.5);
    }
  });
});
