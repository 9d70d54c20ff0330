import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { MusicToolsClient, StorageRepository } from '@mcm/core';
import { backoffMs, OutputKind, type Analysis, type Blueprint } from '@mcm/pipeline';
import { asAdapter, fakeCore, FakeMusicTools } from '../../../../test/fakes';
import { fourSectionBlueprint } from '../../../../test/support/blueprints';
import { StageRunner } from '../stage-runner.service';
import { ValidateStage } from './validate.stage';

const analysis = { duration_s: 12, tempo_bpm: 96, key: 'Am' } as Analysis;

async function momentAtValidate(blueprint: Blueprint) {
  const core = fakeCore();
  const musicTools = new FakeMusicTools();
  const stage = new ValidateStage(asAdapter<MusicToolsClient>(musicTools), { MAX_RENDER_SECONDS: 600 });
  const runner = new StageRunner(core.lifecycle, asAdapter<StorageRepository>(core.storage), [stage]);
  const moment = await core.lifecycle.create({ momentId: randomUUID(), outputKind: OutputKind.Preview, originalKey: 'moments/x/original.m4a', blueprint });
  await core.lifecycle.apply(moment.id, { type: 'STAGE_SUCCEEDED', stage: 'analyze', output: { analysis }, durationMs: 1 });
  const validate = (attempt = 1) => runner.run({ momentId: moment.id, stage: 'validate', run: 1, attempt });
  return { ...core, musicTools, validate, id: moment.id };
}

describe('ValidateStage through the StageRunner', () => {
  it('asks music-tools once and moves a valid blueprint on to rendering', async () => {
    const { musicTools, validate, moments, queue, id } = await momentAtValidate(fourSectionBlueprint({ id: 'bp', style: 'lofi', tempo_bpm: 96, key: 'Am' }));
    await validate();
    expect(musicTools.calls.map((call) => call.tool)).toEqual(['validate_blueprint']);
    expect((await moments.findById(id))?.status).toBe('RENDERING');
    expect(queue.job(id, { stage: 'render_vocals', run: 1, attempt: 1 })?.state).toBe('waiting');
  });

  it('rides out a music-tools outage with a delayed next attempt', async () => {
    const { musicTools, validate, moments, queue, id } = await momentAtValidate(fourSectionBlueprint({ id: 'bp', style: 'lofi', tempo_bpm: 96, key: 'Am' }));
    musicTools.failure = FakeMusicTools.unavailable();
    await validate();
    expect((await moments.findById(id))?.status).toBe('ANALYZING');
    expect(queue.job(id, { stage: 'validate', run: 1, attempt: 2 })).toMatchObject({ state: 'delayed', delayMs: backoffMs('validate', 1) });
  });

  it('fails the moment for good when music-tools finds the blueprint invalid', async () => {
    const invalid = { ...fourSectionBlueprint({ id: 'bp', style: 'lofi', tempo_bpm: 96, key: 'Am' }), tempo_bpm: 999 };
    const { validate, moments, id } = await momentAtValidate(invalid);
    await validate();
    expect(await moments.findById(id)).toMatchObject({ status: 'FAILED', error: { stage: 'validate', code: 'BLUEPRINT_INVALID', retryable: false } });
  });
});
