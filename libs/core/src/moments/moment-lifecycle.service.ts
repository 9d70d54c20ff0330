import { Injectable, Logger } from '@nestjs/common';
import {
  MACHINE_VERSION,
  MomentStatus,
  applyMomentEvent,
  awaitedRuns,
  describeMoment,
  startMoment,
  type MomentEvent,
  type MomentInput,
  type MomentRequest,
  type PersistedMoment,
} from '@mcm/pipeline';
import { MomentEntity } from '../database/moment.entity';
import { MomentTransitionEntity } from '../database/moment-transition.entity';
import { StageQueue } from '../queue/stage-queue';
import { MomentsRepository, type InsertOptions } from './moments.repository';

export interface NewMoment extends MomentInput {
  style?: string | null;
  title?: string | null;
  lyrics?: string | null;
  originalFilename?: string | null;
  owner?: string | null;
  idempotencyKey?: string | null;
  requestHash?: string | null;
}

/** `active.analyzing.analyze`, `rendering(vocals.running,instrumental.done)`-style labels for the history. */
export function stateLabel(value: unknown): string {
  if (typeof value === 'string') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 1) return `${entries[0][0]}.${stateLabel(entries[0][1])}`;
  return `(${entries.map(([key, child]) => `${key}.${stateLabel(child)}`).join(',')})`;
}

/** Copies what the snapshot says into the row's queryable columns. */
export function projectMoment(moment: MomentEntity, persisted: PersistedMoment): MomentEntity {
  const view = describeMoment(persisted);
  const { context } = persisted;
  moment.snapshot = persisted;
  moment.machineVersion = MACHINE_VERSION;
  moment.status = view.status;
  moment.stage = view.stage;
  moment.progress = view.progress;
  moment.blueprint = context.blueprint;
  moment.analysis = context.analysis;
  moment.assets = context.assets;
  moment.error = context.error;
  moment.attempts = context.totalAttempts;
  moment.timingsMs = context.timings;
  moment.completedAt = view.status === MomentStatus.Completed ? (moment.completedAt ?? new Date()) : null;
  return moment;
}

function eventDetail(event: MomentEvent): string | null {
  if (event.type === 'STAGE_FAILED') return `${event.error.code}: ${event.error.message}`.slice(0, 1000);
  if (event.type === 'CANCEL') return event.reason ?? null;
  return null;
}

/**
 * Each moment is an actor: an event is applied to its snapshot under a row lock, the new
 * snapshot is committed, and only then are the machine's requests carried out.
 */
@Injectable()
export class MomentLifecycle {
  private readonly logger = new Logger(MomentLifecycle.name);

  constructor(
    private readonly moments: MomentsRepository,
    private readonly queue: StageQueue,
  ) {}

  async create(input: NewMoment, options: InsertOptions = {}): Promise<MomentEntity> {
    const started = startMoment(input);
    const moment = projectMoment(new MomentEntity(), started.persisted);
    Object.assign(moment, {
      id: input.momentId,
      outputKind: input.outputKind,
      style: input.style ?? null,
      title: input.title ?? null,
      lyrics: input.lyrics ?? null,
      originalFilename: input.originalFilename ?? null,
      owner: input.owner ?? null,
      idempotencyKey: input.idempotencyKey ?? null,
      requestHash: input.requestHash ?? null,
      // Millisecond precision (not Postgres' microseconds), so a `created_at|id` list cursor is exact.
      createdAt: new Date(),
    });
    await this.moments.insert(moment, {
      eventType: 'CREATED',
      stage: null,
      fromState: '',
      toState: stateLabel(started.persisted.value),
      applied: true,
      detail: null,
    }, options);
    await this.perform(moment.id, started.requests, null);
    return (await this.moments.findById(moment.id)) ?? moment;
  }

  /** Offers an event to a moment's machine. Returns null for an unknown moment. */
  async apply(momentId: string, event: MomentEvent): Promise<{ moment: MomentEntity; applied: boolean } | null> {
    const outcome = await this.moments.withLockedMoment(momentId, async (moment, manager) => {
      if (moment.machineVersion !== MACHINE_VERSION) {
        throw new Error(`moment ${momentId} was saved by machine version ${moment.machineVersion}, this is ${MACHINE_VERSION}`);
      }
      const before = moment.snapshot;
      const result = applyMomentEvent(before, event);
      await manager.insert(MomentTransitionEntity, {
        momentId,
        eventType: event.type,
        stage: 'stage' in event ? event.stage : null,
        fromState: stateLabel(before.value),
        toState: stateLabel(result.persisted.value),
        applied: result.changed,
        detail: eventDetail(event),
      });
      if (result.changed) await manager.save(projectMoment(moment, result.persisted));
      return { moment, before, result };
    });
    if (!outcome) return null;
    await this.perform(momentId, outcome.result.requests, outcome.before);
    return { moment: outcome.moment, applied: outcome.result.changed };
  }

  /**
   * Carries out the machine's requests after commit. A failure here loses nothing: the row
   * says what it waits for, and the reconciler enqueues it again.
   */
  private async perform(momentId: string, requests: MomentRequest[], before: PersistedMoment | null): Promise<void> {
    for (const request of requests) {
      try {
        if (request.type === 'runStage') await this.queue.enqueue(momentId, request.params);
        else if (before) await this.queue.removePending(momentId, awaitedRuns(before));
      } catch (error) {
        this.logger.warn(`moment ${momentId}: ${request.type} deferred to the reconciler (${(error as Error).message})`);
      }
    }
  }

  /** Re-enqueues the awaited stage runs of in-flight moments whose queue messages are gone. */
  async reconcile(idleMs: number, limit = 500): Promise<number> {
    let revived = 0;
    for (const moment of await this.moments.findStale(idleMs, limit)) {
      for (const run of awaitedRuns(moment.snapshot)) {
        if (await this.queue.isLive(moment.id, run)) continue;
        await this.queue.revive(moment.id, run);
        revived += 1;
        this.logger.warn(`moment ${moment.id}: re-enqueued ${run.stage} (run ${run.run}, attempt ${run.attempt})`);
      }
    }
    return revived;
  }
}
