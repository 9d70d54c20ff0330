import { describe, expect, it } from 'vitest';
import { initialTransition } from 'xstate';
import type { Blueprint } from './blueprint.schema';
import {
  applyMomentEvent,
  awaitedRuns,
  backoffMs,
  MACHINE_VERSION,
  migrateSnapshot,
  momentMachine,
  stageSucceeded,
  describeMoment,
  startMoment,
  stageJobId,
  type MomentEvent,
  type MomentTransition,
  type PersistedMoment,
} from './moment.machine';
import { publicErrorMessage } from './public-errors';
import { MomentStatus, OutputKind, STAGE_POLICY, type Analysis, type Stage } from './stages';

const analysis = { duration_s: 12, tempo_bpm: 96, key: 'Am' } as Analysis;
const blueprint = { id: 'm1', style: 'lofi', tempo_bpm: 96, key: 'Am', sections: [{ name: 'a', bars: 4 }], lyrics: 'la', voice: { voice_id: 'v' } } as Blueprint;

const succeeded = {
  analyze: { type: 'STAGE_SUCCEEDED', stage: 'analyze', output: { analysis }, durationMs: 100 },
  compose: { type: 'STAGE_SUCCEEDED', stage: 'compose', output: { blueprint }, durationMs: 5 },
  validate: { type: 'STAGE_SUCCEEDED', stage: 'validate', output: { ok: true, errors: [] }, durationMs: 20 },
  render_vocals: { type: 'STAGE_SUCCEEDED', stage: 'render_vocals', output: { key: 'moments/m1/stems/vocals.wav' }, durationMs: 200 },
  render_instrumental: { type: 'STAGE_SUCCEEDED', stage: 'render_instrumental', output: { key: 'moments/m1/stems/instrumental.wav' }, durationMs: 300 },
  mix: {
    type: 'STAGE_SUCCEEDED',
    stage: 'mix',
    output: { preview: 'moments/m1/preview.mp3', master: 'moments/m1/master.wav', duration_ms: 30000, loudness_lufs: -14, true_peak_dbtp: -1.2 },
    durationMs: 500,
  },
} satisfies Record<Stage, MomentEvent>;

const failed = (stage: Stage, retryable = true): MomentEvent => ({ type: 'STAGE_FAILED', stage, error: { code: 'BOOM', message: 'it broke', retryable } });

function start(withBlueprint = false): MomentTransition {
  return startMoment({ momentId: 'm1', outputKind: OutputKind.Preview, originalKey: 'moments/m1/original.m4a', blueprint: withBlueprint ? blueprint : null });
}

function run(events: MomentEvent[], from: PersistedMoment = start().persisted): MomentTransition {
  let last: MomentTransition = { persisted: from } as MomentTransition;
  for (const event of events) last = applyMomentEvent(last.persisted, event);
  return last;
}

const stagesRequested = (transition: MomentTransition) => transition.requests.filter((r) => r.type === 'runStage').map((r) => r.params.stage);
const status = (transition: MomentTransition) => describeMoment(transition.persisted).status;

const toRendering = [succeeded.analyze, succeeded.compose, succeeded.validate];

describe('moment machine', () => {
  it('starts PENDING and asks for the analysis', () => {
    const started = start();
    expect(started.persisted.value).toEqual({ active: 'pending' });
    expect(describeMoment(started.persisted)).toEqual({ status: MomentStatus.Pending, stage: 'analyze', progress: 0 });
    expect(started.requests).toEqual([{ type: 'runStage', params: { stage: 'analyze', run: 1, attempt: 1, delayMs: 0 } }]);
  });

  it("answers XState's throwaway initial snapshot without input (made at every pure transition) with an empty moment, not an error", () => {
    // transition() builds one before it applies the event; an error there is caught by XState, after its stack trace was taken.
    const [snapshot] = initialTransition(momentMachine, undefined as never);
    expect(snapshot.status).toBe('active');
    expect(snapshot.context).toMatchObject({ momentId: '', blueprint: null, assets: { original: '' } });
  });

  it('walks the happy path through every status to COMPLETED', () => {
    const seen: string[] = [];
    let current = start();
    const steps: MomentEvent[] = [{ type: 'STAGE_STARTED', stage: 'analyze' }, ...toRendering, succeeded.render_vocals, succeeded.render_instrumental, succeeded.mix];
    const requested: Stage[][] = [];
    for (const event of steps) {
      current = applyMomentEvent(current.persisted, event);
      expect(current.changed).toBe(true);
      seen.push(status(current));
      requested.push(stagesRequested(current));
    }
    expect(seen).toEqual(['ANALYZING', 'ANALYZING', 'ANALYZING', 'RENDERING', 'RENDERING', 'MIXING', 'COMPLETED']);
    expect(requested).toEqual([[], ['compose'], ['validate'], ['render_vocals', 'render_instrumental'], [], ['mix'], []]);
    const view = describeMoment(current.persisted);
    expect(view).toEqual({ status: MomentStatus.Completed, stage: null, progress: 1 });
    expect(current.persisted.context.assets).toMatchObject({ preview: 'moments/m1/preview.mp3', master: 'moments/m1/master.wav' });
    expect(current.persisted.context.timings).toEqual({ analyze: 100, compose: 5, validate: 20, render_vocals: 200, render_instrumental: 300, mix: 500 });
  });

  it.each([
    ['vocals first', [succeeded.render_vocals, succeeded.render_instrumental]],
    ['instrumental first', [succeeded.render_instrumental, succeeded.render_vocals]],
  ])('starts mixing only when both stems are done (%s)', (_, stems) => {
    const afterFirst = run([...toRendering, stems[0]]);
    expect(status(afterFirst)).toBe('RENDERING');
    expect(stagesRequested(afterFirst)).toEqual([]);
    const afterSecond = applyMomentEvent(afterFirst.persisted, stems[1]);
    expect(status(afterSecond)).toBe('MIXING');
    expect(stagesRequested(afterSecond)).toEqual(['mix']);
  });

  it('skips compose when the client provided a blueprint', () => {
    const analyzed = run([succeeded.analyze], start(true).persisted);
    expect(analyzed.persisted.value).toEqual({ active: { analyzing: 'validate' } });
    expect(stagesRequested(analyzed)).toEqual(['validate']);
  });

  it('accepts the analysis result even when the started event was lost', () => {
    const analyzed = run([succeeded.analyze]);
    expect(analyzed.persisted.value).toEqual({ active: { analyzing: 'compose' } });
  });

  it('fails the moment when the blueprint is invalid, without retrying', () => {
    const invalid: MomentEvent = { type: 'STAGE_SUCCEEDED', stage: 'validate', output: { ok: false, errors: [{ path: '/tempo_bpm', message: 'must be <= 220' }] }, durationMs: 3 };
    const result = run([succeeded.analyze, succeeded.compose, invalid]);
    expect(status(result)).toBe('FAILED');
    expect(result.persisted.context.error).toEqual({
      stage: 'validate',
      code: 'BLUEPRINT_INVALID',
      message: publicErrorMessage('BLUEPRINT_INVALID'),
      retryable: false,
      detail: 'The blueprint is invalid: /tempo_bpm must be <= 220',
    });
    expect(stagesRequested(result)).toEqual([]);
  });

  it('retries a retryable failure with exponential backoff, then fails with the error', () => {
    let current = run(toRendering);
    const attempts = STAGE_POLICY.render_instrumental.attempts;
    const delays: number[] = [];
    for (let attempt = 1; attempt < attempts; attempt++) {
      current = applyMomentEvent(current.persisted, failed('render_instrumental'));
      expect(status(current)).toBe('RENDERING');
      const request = current.requests[0];
      expect(request).toMatchObject({ type: 'runStage', params: { stage: 'render_instrumental', attempt: attempt + 1 } });
      if (request.type === 'runStage') delays.push(request.params.delayMs);
    }
    expect(delays).toEqual(delays.map((_, i) => backoffMs('render_instrumental', i + 1)));
    expect(delays[1]).toBe(delays[0] * 2);
    current = applyMomentEvent(current.persisted, failed('render_instrumental'));
    expect(status(current)).toBe('FAILED');
    expect(current.persisted.context.error).toEqual({ stage: 'render_instrumental', code: 'BOOM', message: 'it broke', retryable: true });
  });

  it('fails at once on an error that cannot heal', () => {
    const result = run([failed('analyze', false)]);
    expect(status(result)).toBe('FAILED');
    expect(describeMoment(result.persisted).stage).toBe('analyze');
  });

  it('ignores a duplicate result', () => {
    const once = run([succeeded.analyze]);
    const twice = applyMomentEvent(once.persisted, succeeded.analyze);
    expect(twice.changed).toBe(false);
    expect(twice.requests).toEqual([]);
    expect(twice.persisted).toEqual(once.persisted);

    const stem = run([...toRendering, succeeded.render_vocals]);
    const again = applyMomentEvent(stem.persisted, succeeded.render_vocals);
    expect(again.changed).toBe(false);
  });

  it('ignores a result for a stage it is not waiting for', () => {
    const early = applyMomentEvent(start().persisted, succeeded.mix);
    expect(early.changed).toBe(false);
    const staleFailure = applyMomentEvent(run([succeeded.analyze]).persisted, failed('analyze'));
    expect(staleFailure.changed).toBe(false);
  });

  it('cancels from any active status and ignores results that arrive afterwards', () => {
    for (const prefix of [[], [succeeded.analyze], toRendering, [...toRendering, succeeded.render_vocals, succeeded.render_instrumental]]) {
      const canceled = run([...prefix, { type: 'CANCEL' }]);
      expect(status(canceled)).toBe('CANCELED');
      expect(canceled.requests).toEqual([{ type: 'cancelStages', params: {} }]);
      for (const late of Object.values(succeeded)) {
        expect(applyMomentEvent(canceled.persisted, late).changed).toBe(false);
      }
    }
  });

  it('cannot cancel a finished moment', () => {
    const done = run([...toRendering, succeeded.render_vocals, succeeded.render_instrumental, succeeded.mix]);
    expect(applyMomentEvent(done.persisted, { type: 'CANCEL' }).changed).toBe(false);
    expect(applyMomentEvent(done.persisted, { type: 'RETRY' }).changed).toBe(false);
  });

  it('resumes a failed moment from the failed stage without redoing finished ones', () => {
    const failedMoment = run([...toRendering, succeeded.render_vocals, failed('render_instrumental', false)]);
    expect(status(failedMoment)).toBe('FAILED');
    const resumed = applyMomentEvent(failedMoment.persisted, { type: 'RETRY' });
    expect(status(resumed)).toBe('RENDERING');
    expect(resumed.requests).toEqual([{ type: 'runStage', params: { stage: 'render_instrumental', run: 2, attempt: 1, delayMs: 0 } }]);
    expect(resumed.persisted.context.error).toBeNull();
    const done = run([succeeded.render_instrumental, succeeded.mix], resumed.persisted);
    expect(status(done)).toBe('COMPLETED');
  });

  it('resumes a canceled moment where it stopped', () => {
    const canceled = run([succeeded.analyze, { type: 'CANCEL' }]);
    const resumed = applyMomentEvent(canceled.persisted, { type: 'RETRY' });
    expect(resumed.persisted.value).toEqual({ active: { analyzing: 'compose' } });
    expect(stagesRequested(resumed)).toEqual(['compose']);
  });

  it('knows which runs it waits for, with stable job ids', () => {
    expect(awaitedRuns(start().persisted)).toEqual([{ stage: 'analyze', run: 1, attempt: 1, delayMs: 0 }]);
    const rendering = run(toRendering);
    expect(awaitedRuns(rendering.persisted).map((r) => r.stage)).toEqual(['render_vocals', 'render_instrumental']);
    const halfway = run([succeeded.render_instrumental], rendering.persisted);
    expect(awaitedRuns(halfway.persisted).map((r) => r.stage)).toEqual(['render_vocals']);
    expect(awaitedRuns(run([{ type: 'CANCEL' }]).persisted)).toEqual([]);
    expect(stageJobId('m1', { stage: 'mix', run: 2, attempt: 3 })).toBe('m1.mix.r2.a3');
  });

  it('counts attempts and reports progress from finished stages', () => {
    const result = run([failed('analyze'), succeeded.analyze, succeeded.compose]);
    expect(result.persisted.context.totalAttempts).toBe(4);
    expect(describeMoment(result.persisted).progress).toBeCloseTo(0.2);
  });

  it('takes the start of every stage it waits for, and of no other', () => {
    const waiting: Array<[MomentEvent[], Stage[]]> = [
      [[], ['analyze']],
      [[{ type: 'STAGE_STARTED', stage: 'analyze' }], ['analyze']],
      [[succeeded.analyze], ['compose']],
      [[succeeded.analyze, succeeded.compose], ['validate']],
      [toRendering, ['render_vocals', 'render_instrumental']],
      [[...toRendering, succeeded.render_vocals], ['render_instrumental']],
      [[...toRendering, succeeded.render_vocals, succeeded.render_instrumental], ['mix']],
    ];
    for (const [events, stages] of waiting) {
      const current = run(events);
      expect(awaitedRuns(current.persisted).map((r) => r.stage)).toEqual(stages);
      for (const stage of Object.keys(succeeded) as Stage[]) {
        const startedEvent = applyMomentEvent(current.persisted, { type: 'STAGE_STARTED', stage });
        expect(startedEvent.accepted).toBe(stages.includes(stage));
        expect(startedEvent.requests).toEqual([]);
      }
    }
  });

  it('builds each stage result with the output of that stage', () => {
    const event = stageSucceeded('render_vocals', { key: 'moments/m1/stems/vocals.wav' }, 200);
    expect(event).toEqual(succeeded.render_vocals);
    expect(applyMomentEvent(run(toRendering).persisted, event).persisted.context.assets.vocals).toBe('moments/m1/stems/vocals.wav');
  });

  it('loads a snapshot of the current version as it is', () => {
    const stored = run([succeeded.analyze]).persisted;
    expect(migrateSnapshot(MACHINE_VERSION, stored)).toBe(stored);
  });

  it('lifts a row saved by the previous machine version through its step, then runs it', () => {
    // The next machine change, as it would arrive: version 2 renames `runs` to `starts`, and keeps a step from 1.
    const previous = run([succeeded.analyze]).persisted;
    const steps = {
      [MACHINE_VERSION]: (old: unknown) => {
        const { runs, ...context } = (old as PersistedMoment).context;
        return { ...(old as PersistedMoment), context: { ...context, starts: runs } };
      },
    };
    const lifted = migrateSnapshot(MACHINE_VERSION, previous, steps, MACHINE_VERSION + 1) as unknown as { value: unknown; context: Record<string, unknown> };
    expect(lifted.value).toEqual({ active: { analyzing: 'compose' } });
    expect(lifted.context.starts).toBe(1);
    expect(lifted.context).not.toHaveProperty('runs');
    // And one saved by a version older than any step is refused by name, as is one from a newer machine.
    expect(() => migrateSnapshot(MACHINE_VERSION - 1, previous, steps, MACHINE_VERSION + 1)).toThrow(`no migration from machine version ${MACHINE_VERSION - 1}`);
    expect(() => migrateSnapshot(MACHINE_VERSION + 1, previous)).toThrow('newer than this one');
  });
});
