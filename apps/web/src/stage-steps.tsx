import type { Moment } from '@main-character/sdk';

type StepState = 'done' | 'active' | 'waiting' | 'failed';

interface Step {
  label: string;
  /** Statuses and stages that belong to this step. */
  stages: readonly string[];
}

/** The pipeline as a person sees it; render_vocals and render_instrumental run side by side in one step. */
const STEPS: readonly Step[] = [
  { label: 'Analyzing your voice', stages: ['analyze'] },
  { label: 'Writing the song', stages: ['compose', 'validate'] },
  { label: 'Recording vocals ‖ band', stages: ['render_vocals', 'render_instrumental'] },
  { label: 'Mixing', stages: ['mix'] },
  { label: 'Done', stages: [] },
];

const STATUS_STEP: Record<string, number> = { PENDING: 0, ANALYZING: 0, RENDERING: 2, MIXING: 3, COMPLETED: 4 };

/** The step a moment is on: its stage when known, else its status. */
export function currentStep(moment: Pick<Moment, 'status' | 'stage' | 'error'>): number {
  const stage = moment.error?.stage ?? moment.stage;
  const byStage = stage ? STEPS.findIndex((step) => step.stages.includes(stage)) : -1;
  if (moment.status === 'COMPLETED') return STEPS.length - 1;
  return byStage >= 0 ? byStage : (STATUS_STEP[moment.status] ?? 0);
}

function stepState(index: number, current: number, moment: Moment | null): StepState {
  if (!moment) return 'waiting';
  if (moment.status === 'COMPLETED') return 'done';
  if (index < current) return 'done';
  if (index > current) return 'waiting';
  return moment.status === 'FAILED' || moment.status === 'CANCELED' ? 'failed' : 'active';
}

const STATE_WORDS: Record<StepState, string> = { done: 'done', active: 'in progress', waiting: 'not started', failed: 'stopped' };

/** The steps of a moment as a list; `moment` is null while the recording is still uploading. */
export function StageSteps({ moment }: { moment: Moment | null }) {
  const current = moment ? currentStep(moment) : -1;
  const timings = (moment?.timings_ms ?? {}) as Record<string, number | undefined>;
  return (
    <ol class="steps">
      {STEPS.map((step, index) => {
        const state = stepState(index, current, moment);
        return (
          <li key={step.label} class={`step ${state}`} aria-current={state === 'active' ? 'step' : undefined}>
            <span class="step-dot" aria-hidden="true" />
            <span class="step-label">
              {step.label}
              <span class="visually-hidden">: {STATE_WORDS[state]}</span>
            </span>
            {index === 2 && state === 'active' && (
              <span class="step-parts">
                <span class={timings.render_vocals !== undefined ? 'part done' : 'part'}>vocals{timings.render_vocals !== undefined ? ' ✓' : '…'}</span>
                <span class={timings.render_instrumental !== undefined ? 'part done' : 'part'}>band{timings.render_instrumental !== undefined ? ' ✓' : '…'}</span>
              </span>
            )}
          </li>
        );
      })}
    </ol>
  );
}
