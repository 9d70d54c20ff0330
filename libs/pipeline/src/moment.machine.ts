import { and, assign, initialTransition, not, setup, transition, type SnapshotFrom } from 'xstate';
import type { Blueprint } from './blueprint.schema';
import { stageFailure } from './public-errors';
import { MomentStatus, OutputKind, STAGE_POLICY, STAGES, type Analysis, type MomentAssets, type MomentError, type Stage, type StageOutput } from './stages';

/**
 * The whole life of a moment.
 *
 *   pending ─▶ analyzing(analyze ─▶ compose ─▶ validate) ─▶ rendering(vocals ∥ instrumental) ─▶ mixing ─▶ completed
 *   any active state ──CANCEL──▶ canceled;  a stage out of retries ──▶ failed;  failed|canceled ──RETRY──▶ route
 *
 * The machine is pure. It never performs work: it emits `runStage` and `cancelStages`
 * requests that the caller performs after the new snapshot is committed. Every finished
 * stage goes through `route`, which picks the first stage whose output is missing — so a
 * resumed job skips what is already done, and a provided blueprint skips `compose`.
 */
export const MACHINE_VERSION = 1;

export interface MomentContext {
  momentId: string;
  outputKind: OutputKind;
  analysis: Analysis | null;
  blueprint: Blueprint | null;
  validated: boolean;
  assets: MomentAssets;
  mix: { duration_ms: number; loudness_lufs: number; true_peak_dbtp: number } | null;
  /** Attempts of each stage in the current run; an operator's retry starts the failed stage afresh. */
  attempts: Partial<Record<Stage, number>>;
  totalAttempts: number;
  /** How many times the moment was started: 1, plus one per operator retry. Part of every job id. */
  runs: number;
  timings: Partial<Record<Stage, number>>;
  error: MomentError | null;
}

export interface MomentInput {
  momentId: string;
  outputKind: OutputKind;
  originalKey: string;
  blueprint?: Blueprint | null;
}

/** A stage's result, typed per stage: `output` is what that stage produces. */
export type StageSucceeded<S extends Stage = Stage> = { [K in S]: { type: 'STAGE_SUCCEEDED'; stage: K; output: StageOutput[K]; durationMs: number } }[S];

/** The event a finished run of `stage` reports. */
export function stageSucceeded<S extends Stage>(stage: S, output: StageOutput[S], durationMs: number): StageSucceeded<S> {
  return { type: 'STAGE_SUCCEEDED', stage, output, durationMs };
}

export type MomentEvent =
  { type: 'STAGE_STARTED'; stage: Stage } | StageSucceeded | { type: 'STAGE_FAILED'; stage: Stage; error: Omit<MomentError, 'stage'> } | { type: 'CANCEL'; reason?: string } | { type: 'RETRY' };

/** One execution of a stage; `run` and `attempt` make its job id unique and repeatable. */
export interface StageRun {
  stage: Stage;
  run: number;
  attempt: number;
  delayMs: number;
}

/** A request the machine makes of the outside world. */
export type MomentRequest = { type: 'runStage'; params: StageRun } | { type: 'cancelStages'; params: Record<string, never> };

/** Exponential backoff before the next attempt; the worker adds jitter when it schedules it. */
export function backoffMs(stage: Stage, failedAttempt: number): number {
  const policy = STAGE_POLICY[stage];
  return Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** Math.max(0, failedAttempt - 1));
}

/** Where each stage's output lands in the context, and how to tell it is there: the one table of stage results. */
const STAGE_RESULTS: { [S in Stage]: { done(context: MomentContext): boolean; record(context: MomentContext, output: StageOutput[S]): Partial<MomentContext> } } = {
  analyze: { done: (c) => c.analysis !== null, record: (_, output) => ({ analysis: output.analysis }) },
  compose: { done: (c) => c.blueprint !== null, record: (_, output) => ({ blueprint: output.blueprint }) },
  validate: { done: (c) => c.validated, record: (_, output) => ({ validated: output.ok }) },
  render_vocals: { done: (c) => Boolean(c.assets.vocals), record: (c, output) => ({ assets: { ...c.assets, vocals: output.key } }) },
  render_instrumental: { done: (c) => Boolean(c.assets.instrumental), record: (c, output) => ({ assets: { ...c.assets, instrumental: output.key } }) },
  mix: {
    done: (c) => Boolean(c.assets.preview),
    record: (c, { preview, master, midi, peaks, ...mix }) => ({ assets: { ...c.assets, preview, master, midi, peaks }, mix }),
  },
};

function stageDone(context: MomentContext, stage: Stage): boolean {
  return STAGE_RESULTS[stage].done(context);
}

function recordOutput<S extends Stage>(context: MomentContext, stage: S, output: StageOutput[S]): Partial<MomentContext> {
  return STAGE_RESULTS[stage].record(context, output);
}

const isStage = (stage: Stage) => ({ type: 'isStage', params: { stage } }) as const;
const done = (stage: Stage) => ({ type: 'stageDone', params: { stage } }) as const;
const runStage = (stage: Stage) =>
  [
    { type: 'countAttempt', params: { stage } },
    { type: 'runStage', params: ({ context }: { context: MomentContext }): StageRun => ({ stage, run: context.runs, attempt: context.attempts[stage] ?? 1, delayMs: 0 }) },
  ] as const;

export const momentMachine = setup({
  types: {
    context: {} as MomentContext,
    events: {} as MomentEvent,
    input: {} as MomentInput,
    // Each state that waits for a stage carries that stage as its tag: awaitedRuns and describeMoment read it from there.
    tags: {} as Stage,
  },
  guards: {
    isStage: ({ event }, params: { stage: Stage }) => 'stage' in event && event.stage === params.stage,
    canRetry: ({ context, event }) => event.type === 'STAGE_FAILED' && event.error.retryable && (context.attempts[event.stage] ?? 0) < STAGE_POLICY[event.stage].attempts,
    blueprintInvalid: ({ event }) => event.type === 'STAGE_SUCCEEDED' && event.stage === 'validate' && !event.output.ok,
    stageDone: ({ context }, params: { stage: Stage }) => stageDone(context, params.stage),
  },
  actions: {
    countAttempt: assign(({ context }, params: { stage: Stage }) => ({
      attempts: { ...context.attempts, [params.stage]: (context.attempts[params.stage] ?? 0) + 1 },
      totalAttempts: context.totalAttempts + 1,
    })),
    record: assign(({ context, event }) => {
      if (event.type !== 'STAGE_SUCCEEDED') return {};
      return { ...recordOutput(context, event.stage, event.output), timings: { ...context.timings, [event.stage]: event.durationMs } };
    }),
    retryStage: assign(({ context, event }) => {
      if (event.type !== 'STAGE_FAILED') return {};
      return {
        attempts: { ...context.attempts, [event.stage]: (context.attempts[event.stage] ?? 0) + 1 },
        totalAttempts: context.totalAttempts + 1,
      };
    }),
    fail: assign(({ event }) => {
      if (event.type === 'STAGE_FAILED') return { error: { stage: event.stage, ...event.error } };
      if (event.type === 'STAGE_SUCCEEDED' && event.stage === 'validate' && !event.output.ok) {
        const detail = event.output.errors.map((e) => `${e.path} ${e.message}`).join('; ');
        return { error: { stage: 'validate' as const, ...stageFailure('BLUEPRINT_INVALID', `The blueprint is invalid: ${detail}`, false) } };
      }
      return {};
    }),
    resetForRetry: assign(({ context }) => ({
      attempts: context.error?.stage ? { ...context.attempts, [context.error.stage]: 0 } : context.attempts,
      runs: context.runs + 1,
      error: null,
    })),
    // Marks a start as taken (`accepted`) without moving the snapshot.
    noteStart: () => undefined,
    // Requests: performed by the caller after commit, never here.
    runStage: (_, _params: StageRun) => undefined,
    cancelStages: () => undefined,
  },
}).createMachine({
  id: 'moment',
  initial: 'active',
  // XState's pure `transition()` first builds a throwaway initial snapshot without input (statelyai/xstate#4774): it gets
  // an empty moment, not a TypeError, whose stack trace would cost more than the transition itself.
  context: ({ input }: { input: MomentInput | undefined }) => ({
    momentId: input?.momentId ?? '',
    outputKind: input?.outputKind ?? OutputKind.Preview,
    analysis: null,
    blueprint: input?.blueprint ?? null,
    validated: false,
    assets: { original: input?.originalKey ?? '' },
    mix: null,
    attempts: {},
    totalAttempts: 0,
    runs: 1,
    timings: {},
    error: null,
  }),
  states: {
    active: {
      initial: 'route',
      on: { CANCEL: { target: 'canceled', actions: 'cancelStages' } },
      states: {
        route: {
          always: [
            { guard: not(done('analyze')), target: 'pending' },
            { guard: not(done('compose')), target: 'analyzing.compose' },
            { guard: not(done('validate')), target: 'analyzing.validate' },
            { guard: not(and([done('render_vocals'), done('render_instrumental')])), target: 'rendering' },
            { guard: not(done('mix')), target: 'mixing' },
            { target: '#moment.completed' },
          ],
        },
        pending: {
          tags: ['analyze'],
          entry: runStage('analyze'),
          on: {
            STAGE_STARTED: { guard: isStage('analyze'), target: 'analyzing.analyze' },
            ...work('analyze', 'route'),
          },
        },
        analyzing: {
          initial: 'analyze',
          states: {
            analyze: { tags: ['analyze'], on: { STAGE_STARTED: started('analyze'), ...work('analyze', '#moment.active.route') } },
            compose: awaiting('compose', '#moment.active.route'),
            validate: {
              tags: ['validate'],
              entry: runStage('validate'),
              on: {
                STAGE_STARTED: started('validate'),
                STAGE_SUCCEEDED: [
                  { guard: and([isStage('validate'), 'blueprintInvalid']), target: '#moment.failed', actions: ['record', 'fail'] },
                  { guard: isStage('validate'), target: '#moment.active.route', actions: 'record' },
                ],
                STAGE_FAILED: failure('validate'),
              },
            },
          },
        },
        rendering: {
          type: 'parallel',
          onDone: 'route',
          states: {
            vocals: {
              initial: 'check',
              states: {
                check: { always: [{ guard: done('render_vocals'), target: 'done' }, { target: 'running' }] },
                running: awaiting('render_vocals', 'done'),
                done: { type: 'final' },
              },
            },
            instrumental: {
              initial: 'check',
              states: {
                check: { always: [{ guard: done('render_instrumental'), target: 'done' }, { target: 'running' }] },
                running: awaiting('render_instrumental', 'done'),
                done: { type: 'final' },
              },
            },
          },
        },
        mixing: awaiting('mix', '#moment.active.route'),
      },
    },
    completed: { type: 'final' },
    failed: { on: { RETRY: { target: 'active', actions: 'resetForRetry' } } },
    canceled: { on: { RETRY: { target: 'active', actions: 'resetForRetry' } } },
  },
});

/** A state that waits for `stage`: tagged with it, it asks for a run on entry and moves on with the result. */
function awaiting(stage: Stage, next: string) {
  return { tags: [stage], entry: runStage(stage), on: { STAGE_STARTED: started(stage), ...work(stage, next) } };
}

/** A run of the awaited stage began: the history notes it, the snapshot already says what it waits for. */
function started(stage: Stage) {
  return { guard: isStage(stage), actions: 'noteStart' as const };
}

/** Transitions of a working stage: its result moves on, its failure retries with backoff or fails the moment. */
function work(stage: Stage, next: string) {
  return {
    STAGE_SUCCEEDED: { guard: isStage(stage), target: next, actions: 'record' as const },
    STAGE_FAILED: failure(stage),
  };
}

function failure(stage: Stage) {
  return [
    {
      guard: and([isStage(stage), 'canRetry']),
      actions: [
        'retryStage' as const,
        {
          type: 'runStage' as const,
          params: ({ context }: { context: MomentContext }): StageRun => {
            const attempt = context.attempts[stage] ?? 1;
            return { stage, run: context.runs, attempt, delayMs: backoffMs(stage, attempt - 1) };
          },
        },
      ],
    },
    { guard: isStage(stage), target: '#moment.failed', actions: 'fail' as const },
  ];
}

export type MomentSnapshot = SnapshotFrom<typeof momentMachine>;

/** The JSON stored in Postgres beside `MACHINE_VERSION`. */
export interface PersistedMoment {
  value: MomentSnapshot['value'];
  context: MomentContext;
}

export interface MomentTransition {
  snapshot: MomentSnapshot;
  persisted: PersistedMoment;
  requests: MomentRequest[];
  /** False when the event did not apply (a late, duplicate or stale result). */
  changed: boolean;
  /** True when the current state takes the event, even if nothing in the snapshot moves (a stage's start). */
  accepted: boolean;
}

function toRequests(actions: ReadonlyArray<{ type: string; params?: unknown }>): MomentRequest[] {
  return actions.filter((action) => action.type === 'runStage' || action.type === 'cancelStages').map((action) => ({ type: action.type, params: action.params ?? {} }) as MomentRequest);
}

function persist(snapshot: MomentSnapshot): PersistedMoment {
  return { value: snapshot.value, context: snapshot.context };
}

export function startMoment(input: MomentInput): MomentTransition {
  const [snapshot, actions] = initialTransition(momentMachine, input);
  return { snapshot, persisted: persist(snapshot), requests: toRequests(actions), changed: true, accepted: true };
}

export function restoreMoment(persisted: PersistedMoment): MomentSnapshot {
  return momentMachine.resolveState({ value: persisted.value, context: persisted.context });
}

export function applyMomentEvent(persisted: PersistedMoment, event: MomentEvent): MomentTransition {
  const restored = restoreMoment(persisted);
  const [snapshot, actions] = transition(momentMachine, restored, event);
  const next = persist(snapshot);
  const changed = JSON.stringify(next) !== JSON.stringify(persisted);
  return { snapshot, persisted: next, requests: changed ? toRequests(actions) : [], changed, accepted: changed || restored.can(event) };
}

/** Lifts a stored snapshot one machine version: the step keyed `n` turns a version-n snapshot into version n + 1. */
export type SnapshotMigration = (persisted: unknown) => unknown;

/**
 * One step per machine change that alters the stored snapshot. When the machine changes, raise
 * `MACHINE_VERSION` and add the step from the previous version here; rows saved before then still load.
 */
export const SNAPSHOT_MIGRATIONS: Readonly<Record<number, SnapshotMigration>> = {};

/** The snapshot of a row saved by machine `version`, brought up to `target` (this machine) step by step. */
export function migrateSnapshot(version: number, persisted: unknown, migrations: Readonly<Record<number, SnapshotMigration>> = SNAPSHOT_MIGRATIONS, target = MACHINE_VERSION): PersistedMoment {
  if (version > target) throw new Error(`the snapshot was saved by machine version ${version}, newer than this one (${target})`);
  let current = persisted;
  for (let from = version; from < target; from++) {
    const step = migrations[from];
    if (!step) throw new Error(`no migration from machine version ${from} to ${from + 1}`);
    current = step(current);
  }
  return current as PersistedMoment;
}

const PROGRESS_WEIGHT: Record<Stage, number> = {
  analyze: 0.15,
  compose: 0.05,
  validate: 0.05,
  render_vocals: 0.2,
  render_instrumental: 0.25,
  mix: 0.3,
};

/**
 * The stage runs the current state is waiting for. The reconciler re-enqueues exactly these
 * when their queue messages were lost; the same ids make a message that still exists a no-op.
 */
export function awaitedRuns(persisted: PersistedMoment): StageRun[] {
  const snapshot = restoreMoment(persisted);
  const { context } = snapshot;
  return STAGES.filter((stage) => snapshot.hasTag(stage)).map((stage) => ({ stage, run: context.runs, attempt: context.attempts[stage] ?? 1, delayMs: 0 }));
}

export function stageJobId(momentId: string, run: Pick<StageRun, 'stage' | 'run' | 'attempt'>): string {
  return `${momentId}.${run.stage}.r${run.run}.a${run.attempt}`;
}

export interface MomentView {
  status: MomentStatus;
  stage: Stage | null;
  progress: number;
}

/** Public status, current stage and progress, all derived from the snapshot. */
export function describeMoment(persisted: PersistedMoment): MomentView {
  const snapshot = restoreMoment(persisted);
  const { context } = snapshot;
  const done = STAGES.filter((stage) => stageDone(context, stage));
  const progress = Math.round(done.reduce((sum, stage) => sum + PROGRESS_WEIGHT[stage], 0) * 1000) / 1000;
  const firstOpen = STAGES.find((stage) => !stageDone(context, stage)) ?? null;

  if (snapshot.matches('completed')) return { status: MomentStatus.Completed, stage: null, progress: 1 };
  if (snapshot.matches('failed')) return { status: MomentStatus.Failed, stage: context.error?.stage ?? null, progress };
  if (snapshot.matches('canceled')) return { status: MomentStatus.Canceled, stage: null, progress };
  if (snapshot.matches({ active: 'pending' })) return { status: MomentStatus.Pending, stage: 'analyze', progress };
  if (snapshot.matches({ active: 'analyzing' })) return { status: MomentStatus.Analyzing, stage: firstOpen, progress };
  if (snapshot.matches({ active: 'rendering' })) return { status: MomentStatus.Rendering, stage: firstOpen, progress };
  return { status: MomentStatus.Mixing, stage: 'mix', progress };
}
