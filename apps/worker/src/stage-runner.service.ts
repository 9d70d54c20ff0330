import { rm } from 'node:fs/promises';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Span } from '@opentelemetry/api';
import { makeWorkDirectory } from '@mcm/audio';
import { AppMetrics, contextFrom, inSpan, MomentLifecycle, SpanKind, SpanStatusCode, StorageRepository, type KnownMoment } from '@mcm/core';
import { PipelineError, stageFailure, stageSucceeded, storageKey, TERMINAL_STATUSES, type MomentError, type Stage, type StageJobData } from '@mcm/pipeline';
import { STAGE_WORKS, type StageWork } from './stages/stage-work';

/**
 * What went wrong: a stable code, the client sentence for it, and the raw cause kept for operators.
 * Unknown errors are worth another attempt.
 */
export function describeFailure(error: unknown): Omit<MomentError, 'stage'> {
  const detail = error instanceof Error ? error.message.slice(0, 1000) : String(error);
  if (error instanceof PipelineError) return stageFailure(error.code, detail, error.retryable);
  // The S3 client's own errors, told apart by name: they come from outside and carry no code of ours.
  if (error instanceof Error && /^(S3|NoSuch|AccessDenied|RequestTimeout|ServiceUnavailable)/.test(error.name)) {
    return stageFailure('STORAGE_UNAVAILABLE', detail, true);
  }
  return stageFailure('STAGE_ERROR', detail, true);
}

/** How many moments' rows a runner keeps from their last outcome, for their next stage's start. */
const KEPT_ROWS = 256;

/**
 * Runs one stage job: checks that the moment still waits for exactly this run, does the work,
 * and reports the outcome to the moment's machine. It never decides what runs next.
 */
@Injectable()
export class StageRunner {
  private readonly logger = new Logger(StageRunner.name);
  private readonly works: Map<Stage, StageWork>;
  /**
   * Each moment's row as this runner's last outcome committed it, oldest first: its next stage's start is decided
   * on it without reading the row, and written only if the row is still at that version (else decided on the row locked).
   */
  private readonly kept = new Map<string, KnownMoment>();

  constructor(
    private readonly lifecycle: MomentLifecycle,
    private readonly storage: StorageRepository,
    @Inject(STAGE_WORKS) works: StageWork[],
    private readonly metrics: AppMetrics = new AppMetrics(),
  ) {
    this.works = new Map(works.map((work) => [work.stage, work]));
  }

  /** One span per run, a child of the work that enqueued it (the create request, or the stage before), so a moment is one trace. */
  run(job: StageJobData): Promise<void> {
    const attributes = { 'mcm.moment_id': job.momentId, 'mcm.stage': job.stage, 'mcm.run': job.run, 'mcm.attempt': job.attempt };
    return inSpan(`stage ${job.stage}`, { kind: SpanKind.CONSUMER, parent: contextFrom(job.trace), attributes }, (span) => this.runStage(job, span));
  }

  private async runStage(job: StageJobData, span: Span): Promise<void> {
    // On the row as committed, checked by its version: a moment that no longer waits for exactly this run (an earlier attempt, canceled, deleted) refuses the start, and the work is skipped.
    const known = this.kept.get(job.momentId);
    this.kept.delete(job.momentId);
    const start = await this.lifecycle.apply(job.momentId, { type: 'STAGE_STARTED', stage: job.stage }, { forRun: job, known });
    if (!start?.accepted) {
      this.logger.debug(`skipping ${job.stage} of ${job.momentId}: the moment no longer waits for it`);
      span.setAttribute('mcm.outcome', 'skipped');
      return;
    }
    // The row as the start committed it: the stage works from it, and its outcome is decided on it, without reading it again.
    const { moment } = start;

    const work = this.works.get(job.stage)!;
    let workdir: Promise<string> | undefined;
    const started = performance.now();
    let outcome: Awaited<ReturnType<MomentLifecycle['apply']>>;
    try {
      const output = await work.run(moment, () => (workdir ??= makeWorkDirectory(job.stage)));
      const durationMs = Math.round(performance.now() - started);
      this.metrics.observeStage(job.stage, 'succeeded', durationMs / 1000);
      span.setAttribute('mcm.outcome', 'succeeded');
      outcome = await this.lifecycle.apply(moment.id, stageSucceeded(job.stage, output, durationMs), { known: start });
    } catch (error) {
      const failure = describeFailure(error);
      this.metrics.observeStage(job.stage, 'failed', (performance.now() - started) / 1000);
      // The code only: the detail may name internal hosts and paths.
      span.setAttributes({ 'mcm.outcome': 'failed', 'mcm.error_code': failure.code, 'mcm.retryable': failure.retryable });
      span.setStatus({ code: SpanStatusCode.ERROR, message: failure.code });
      this.logger.warn(`${job.stage} of ${moment.id} failed (${failure.code}, retryable: ${failure.retryable}): ${failure.detail}`);
      outcome = await this.lifecycle.apply(moment.id, { type: 'STAGE_FAILED', stage: job.stage, error: failure }, { known: start });
    } finally {
      if (workdir) await rm(await workdir.catch(() => ''), { recursive: true, force: true });
    }
    if (outcome?.moment.deletedAt) await this.removeLeftovers(moment.id);
    else if (outcome && !TERMINAL_STATUSES.includes(outcome.moment.status)) this.keep(outcome);
  }

  private keep(outcome: KnownMoment): void {
    this.kept.delete(outcome.moment.id);
    this.kept.set(outcome.moment.id, { moment: outcome.moment, version: outcome.version });
    if (this.kept.size > KEPT_ROWS) this.kept.delete(this.kept.keys().next().value!);
  }

  /** The moment was deleted while this stage ran: what the stage stored goes now rather than at the next sweep. */
  private async removeLeftovers(momentId: string): Promise<void> {
    await this.storage.deletePrefix(storageKey(momentId, '')).catch((error: Error) => {
      this.logger.warn(`moment ${momentId} was deleted while a stage ran; its objects wait for the sweeper (${error.message})`);
    });
  }
}
