import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AudioError } from '@mcm/audio';
import { ElevenLabsError, MusicToolsError, type KnownMoment, type StorageRepository } from '@mcm/core';
import { backoffMs, OutputKind, PipelineError, PUBLIC_ERROR_MESSAGES, GENERIC_ERROR_MESSAGE, type Analysis, type Stage, type StageJobData, type StageOutput } from '@mcm/pipeline';
import { metricValue, parseMetrics } from '../../../test/support/prometheus';
import { asAdapter, fakeCore } from '../../../test/fakes';
import { describeFailure, StageRunner } from './stage-runner.service';
import { StageError, type StageWork } from './stages/stage-work';
import { ToolFailure } from '../../music-tools/src/tool-failure';

describe('describeFailure', () => {
  it('gives a stage failure the sentence of its code and keeps the raw cause as detail', () => {
    const raw = 'music-tools at http://10.1.2.3:8080 is unavailable: fetch failed';
    expect(describeFailure(new MusicToolsError('MCP_UNAVAILABLE', raw, true))).toEqual({
      code: 'MCP_UNAVAILABLE',
      message: PUBLIC_ERROR_MESSAGES.MCP_UNAVAILABLE,
      retryable: true,
      detail: raw,
    });
  });

  it('keeps ffmpeg output and temp paths out of the message', () => {
    const raw = 'ffmpeg failed: /tmp/mcm-analyze-Q1w2/original: Invalid data found when processing input';
    const failure = describeFailure(new AudioError('AUDIO_UNDECODABLE', raw, false));
    expect(failure).toMatchObject({ code: 'AUDIO_UNDECODABLE', retryable: false, detail: raw });
    expect(failure.message).toBe(PUBLIC_ERROR_MESSAGES.AUDIO_UNDECODABLE);
  });

  it('describes stage errors, storage errors and unknown errors the same way', () => {
    expect(describeFailure(new StageError('STAGE_INPUT_MISSING', 'the blueprint is missing', false))).toMatchObject({
      code: 'STAGE_INPUT_MISSING',
      message: PUBLIC_ERROR_MESSAGES.STAGE_INPUT_MISSING,
      detail: 'the blueprint is missing',
    });
    const storage = Object.assign(new Error('getaddrinfo ENOTFOUND minio.internal'), { name: 'S3ServiceException' });
    expect(describeFailure(storage)).toEqual({ code: 'STORAGE_UNAVAILABLE', message: PUBLIC_ERROR_MESSAGES.STORAGE_UNAVAILABLE, retryable: true, detail: storage.message });
    expect(describeFailure(new TypeError('cannot read x of undefined'))).toEqual({ code: 'STAGE_ERROR', message: GENERIC_ERROR_MESSAGE, retryable: true, detail: 'cannot read x of undefined' });
    class NewFailure extends PipelineError {
      readonly code = 'SOMETHING_NEW';
      readonly retryable = false;
    }
    expect(describeFailure(new NewFailure('new failure'))).toMatchObject({ code: 'SOMETHING_NEW', message: GENERIC_ERROR_MESSAGE });
  });

  it('reads code and retryable from every failure of the pipeline, through their one base', () => {
    const failures = [
      new AudioError('AUDIO_SILENT', 'silent', false),
      new ToolFailure('MUSIC_TOOLS_BUSY', 'busy', true),
      new MusicToolsError('MCP_UNAUTHORIZED', 'refused', false),
      new StageError('STAGE_INPUT_MISSING', 'missing', false),
      new ElevenLabsError('ELEVENLABS_RATE_LIMITED', 'slow down', true, 429),
    ];
    for (const failure of failures) {
      expect(failure).toBeInstanceOf(PipelineError);
      expect(describeFailure(failure)).toMatchObject({ code: failure.code, retryable: failure.retryable, detail: failure.message });
    }
  });

  it('does not take an unknown error at its word because it happens to carry code and retryable', () => {
    const lookalike = Object.assign(new Error('connection reset'), { code: 'ECONNRESET', retryable: false });
    expect(describeFailure(lookalike)).toEqual({ code: 'STAGE_ERROR', message: GENERIC_ERROR_MESSAGE, retryable: true, detail: 'connection reset' });
  });
});

describe('StageRunner', () => {
  const analysis = { duration_s: 12, tempo_bpm: 96, key: 'Am' } as Analysis;

  /** A stage's work that answers `outcome` and counts its runs. */
  function scriptedWork<S extends Stage>(stage: S, outcome: () => Promise<StageOutput[S]>): StageWork<S> & { runs: number } {
    return {
      stage,
      runs: 0,
      run() {
        this.runs += 1;
        return outcome();
      },
    };
  }

  function world(analyze: () => Promise<StageOutput['analyze']> = async () => ({ analysis })) {
    const core = fakeCore();
    const work = scriptedWork('analyze', analyze);
    const runner = new StageRunner(core.lifecycle, asAdapter<StorageRepository>(core.storage), [work], core.metrics);
    const create = () => core.lifecycle.create({ momentId: randomUUID(), outputKind: OutputKind.Preview, originalKey: 'moments/x/original.m4a' });
    return { ...core, work, runner, create };
  }

  const job = (momentId: string, attempt = 1): StageJobData => ({ momentId, stage: 'analyze', run: 1, attempt });

  it('reports the start and the result of the awaited run, and the machine asks for the next stage', async () => {
    const { create, runner, moments, queue, work } = world();
    const moment = await create();
    await runner.run(job(moment.id));
    expect(work.runs).toBe(1);
    expect((await moments.history(moment.id)).map((row) => [row.eventType, row.stage, row.applied])).toEqual([
      ['CREATED', null, true],
      ['STAGE_STARTED', 'analyze', true],
      ['STAGE_SUCCEEDED', 'analyze', true],
    ]);
    expect((await moments.findById(moment.id))?.analysis).toEqual(analysis);
    expect(queue.job(moment.id, { stage: 'compose', run: 1, attempt: 1 })?.state).toBe('waiting');
  });

  it("decides each outcome on its start's row, and the moment's next start on that outcome's row, without reading them again", async () => {
    const core = world();
    const compose = scriptedWork('compose', async () => ({ blueprint: null as never }));
    const runner = new StageRunner(core.lifecycle, asAdapter<StorageRepository>(core.storage), [core.work, compose], core.metrics);
    const applied: Array<{ event: string; known?: KnownMoment; outcome?: KnownMoment | null }> = [];
    const apply = core.lifecycle.apply.bind(core.lifecycle);
    core.lifecycle.apply = async (id, event, options) => {
      const outcome = await apply(id, event, options);
      applied.push({ event: `${event.type} ${'stage' in event ? event.stage : ''}`, known: options?.known, outcome });
      return outcome;
    };
    const moment = await core.create();
    await runner.run(job(moment.id));
    await runner.run({ momentId: moment.id, stage: 'compose', run: 1, attempt: 1 });
    expect(applied.map(({ event }) => event)).toEqual(['STAGE_STARTED analyze', 'STAGE_SUCCEEDED analyze', 'STAGE_STARTED compose', 'STAGE_SUCCEEDED compose']);
    // The first start reads the row: this runner has not seen the moment before.
    expect(applied[0].known).toBeUndefined();
    for (let i = 1; i < applied.length; i++) {
      expect(applied[i].known?.moment).toBe(applied[i - 1].outcome?.moment);
      expect(applied[i].known?.version).toBe(applied[i - 1].outcome?.version);
    }
  });

  it('times each run of the work by stage and outcome, and none of a skipped job', async () => {
    let fail = true;
    const { create, runner, metrics } = world(async () => {
      if (fail) throw new StageError('STORAGE_UNAVAILABLE', 'storage down', true);
      return { analysis };
    });
    const moment = await create();
    await runner.run(job(moment.id));
    await runner.run(job(moment.id));
    fail = false;
    await runner.run(job(moment.id, 2));
    const samples = parseMetrics((await metrics.exposition()).body);
    expect(metricValue(samples, 'mcm_stage_duration_seconds_count', { stage: 'analyze', outcome: 'failed' })).toBe(1);
    expect(metricValue(samples, 'mcm_stage_duration_seconds_count', { stage: 'analyze', outcome: 'succeeded' })).toBe(1);
  });

  it('does the work once when the same job is delivered again after it finished', async () => {
    const { create, runner, work, moments } = world();
    const moment = await create();
    await runner.run(job(moment.id));
    await runner.run(job(moment.id));
    expect(work.runs).toBe(1);
    expect((await moments.history(moment.id)).filter((row) => row.eventType === 'STAGE_SUCCEEDED')).toHaveLength(1);
  });

  it('skips a stale job: an earlier attempt, an unknown moment, a deleted or canceled one', async () => {
    const { create, runner, work, lifecycle } = world(async () => {
      throw new StageError('STORAGE_UNAVAILABLE', 'storage down', true);
    });
    const moment = await create();
    await runner.run(job(moment.id));
    expect(work.runs).toBe(1);
    await runner.run(job(moment.id, 1));
    expect(work.runs).toBe(1);
    await runner.run(job(randomUUID()));
    const canceled = await create();
    await lifecycle.apply(canceled.id, { type: 'CANCEL' });
    await runner.run(job(canceled.id));
    const deleted = await create();
    await lifecycle.delete(deleted.id, 'client');
    await runner.run(job(deleted.id));
    expect(work.runs).toBe(1);
  });

  it('turns a retryable failure into the next attempt, delayed, and a lasting one into FAILED', async () => {
    let error = new StageError('STORAGE_UNAVAILABLE', 'storage down', true);
    const { create, runner, queue, moments } = world(async () => {
      throw error;
    });
    const moment = await create();
    await runner.run(job(moment.id));
    expect(queue.job(moment.id, { stage: 'analyze', run: 1, attempt: 2 })).toMatchObject({ state: 'delayed', delayMs: backoffMs('analyze', 1) });
    error = new StageError('AUDIO_UNDECODABLE', 'ffmpeg: Invalid data', false);
    await runner.run(job(moment.id, 2));
    expect(await moments.findById(moment.id)).toMatchObject({ status: 'FAILED', error: { stage: 'analyze', code: 'AUDIO_UNDECODABLE', retryable: false, detail: 'ffmpeg: Invalid data' } });
    expect(queue.job(moment.id, { stage: 'analyze', run: 1, attempt: 3 })).toBeUndefined();
  });

  it('makes a work directory only for a stage that asks for one, and removes it when the run ends', async () => {
    const scratch = () => readdirSync(tmpdir()).filter((name) => name.startsWith(`mcm-analyze-${process.pid}-`));
    const before = scratch();
    const idle = world();
    await idle.runner.run(job((await idle.create()).id));
    expect(idle.work.runs).toBe(1);
    expect(scratch()).toEqual(before);

    const core = world();
    let asked = '';
    const onDisk = scriptedWork('analyze', async () => ({ analysis }));
    onDisk.run = async function (_moment, workdir) {
      this.runs += 1;
      asked = await workdir();
      expect(await workdir()).toBe(asked);
      writeFileSync(join(asked, 'original'), 'take');
      return { analysis };
    };
    const runner = new StageRunner(core.lifecycle, asAdapter<StorageRepository>(core.storage), [onDisk]);
    await runner.run(job((await core.create()).id));
    expect(onDisk.runs).toBe(1);
    expect(asked).toContain(`mcm-analyze-${process.pid}-`);
    expect(existsSync(asked)).toBe(false);
  });

  it('removes what a stage stored when the moment was deleted while it ran', async () => {
    const core = world();
    const moment = await core.create();
    const slow = scriptedWork('analyze', async () => {
      await core.storage.putBuffer(`moments/${moment.id}/stems/late.wav`, 'late', 'audio/wav');
      await core.lifecycle.delete(moment.id, 'client');
      return { analysis };
    });
    const runner = new StageRunner(core.lifecycle, asAdapter<StorageRepository>(core.storage), [slow]);
    await runner.run(job(moment.id));
    expect(slow.runs).toBe(1);
    expect(await core.storage.listKeys(`moments/${moment.id}/`)).toEqual([]);
    expect((await core.moments.findById(moment.id))?.analysis).toBeNull();
  });
});
