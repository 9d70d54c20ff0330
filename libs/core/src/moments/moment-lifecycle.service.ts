import { Injectable, Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import {
  EXPIRING_ASSETS,
  MACHINE_VERSION,
  MomentStatus,
  TERMINAL_STATUSES,
  applyMomentEvent,
  awaitedRuns,
  describeMoment,
  startMoment,
  type MomentEvent,
  type MomentInput,
  type MomentRequest,
  type MomentAssets,
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

/** Who asked for a deletion, as the history records it. */
export type DeletedBy = 'client' | 'operator';

/** Why the machine may not see an event at all: a deleted moment never moves again, an expired one never resumes. */
function refusal(moment: MomentEntity, event: MomentEvent): string | null {
  if (moment.deletedAt) return 'the moment was deleted';
  if (event.type === 'RETRY' && moment.assetsExpiredAt) return 'the recording expired';
  return null;
}

/** Keeps the row's assets and its snapshot's in step, minus `names`. */
function withoutAssets(moment: MomentEntity, names: readonly (keyof MomentAssets)[]): void {
  const kept = (assets: MomentAssets): MomentAssets => Object.fromEntries(Object.entries(assets ?? {}).filter(([name]) => !names.includes(name as keyof MomentAssets)));
  moment.assets = kept(moment.assets);
  moment.snapshot = { ...moment.snapshot, context: { ...moment.snapshot.context, assets: kept(moment.snapshot.context.assets) } };
}

/** A tombstone keeps the id, its owner and how it ended; nothing the person recorded or typed. */
function tombstone(moment: MomentEntity, at: Date): void {
  withoutAssets(moment, Object.keys({ ...moment.assets, ...moment.snapshot.context.assets }) as (keyof MomentAssets)[]);
  moment.snapshot = { ...moment.snapshot, context: { ...moment.snapshot.context, analysis: null, blueprint: null } };
  Object.assign(moment, { deletedAt: at, title: null, lyrics: null, originalFilename: null, blueprint: null, analysis: null });
}

function eventDetail(event: MomentEvent): string | null {
  if (event.type === 'STAGE_FAILED') return `${event.error.code}: ${event.error.detail ?? event.error.message}`.slice(0, 1000);
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

  /**
   * Offers an event to a moment's machine. Returns null for an unknown moment. A deleted moment
   * takes no event (a late stage result cannot bring it back), an expired one no RETRY.
   */
  async apply(momentId: string, event: MomentEvent): Promise<{ moment: MomentEntity; applied: boolean } | null> {
    const outcome = await this.moments.withLockedMoment(momentId, async (moment, manager) => {
      const before = moment.snapshot;
      const refused = refusal(moment, event);
      if (refused) {
        await this.record(manager, moment, { eventType: event.type, stage: 'stage' in event ? event.stage : null, applied: false, detail: refused });
        return { moment, before, requests: [] as MomentRequest[], changed: false };
      }
      const { requests, changed } = await this.offer(manager, moment, event);
      if (changed) await manager.save(moment);
      return { moment, before, requests, changed };
    });
    if (!outcome) return null;
    await this.perform(momentId, outcome.requests, outcome.before);
    return { moment: outcome.moment, applied: outcome.changed };
  }

  /**
   * Deletes a moment: one still in progress is canceled through its machine first (its queued
   * stages are removed), then the row becomes a tombstone without asset keys. Removing the
   * objects is the caller's; `deleted` is false when the moment was already deleted.
   */
  async delete(momentId: string, by: DeletedBy): Promise<{ moment: MomentEntity; deleted: boolean } | null> {
    const outcome = await this.moments.withLockedMoment(momentId, async (moment, manager) => {
      const before = moment.snapshot;
      if (moment.deletedAt) return { moment, before, requests: [] as MomentRequest[], deleted: false };
      const detail = `deleted by ${by === 'client' ? 'the client' : 'an operator'}`;
      const canceled = TERMINAL_STATUSES.includes(moment.status) ? { requests: [] } : await this.offer(manager, moment, { type: 'CANCEL', reason: detail });
      tombstone(moment, new Date());
      await this.record(manager, moment, { eventType: 'DELETED', stage: null, applied: true, detail });
      await manager.save(moment);
      return { moment, before, requests: canceled.requests, deleted: true };
    });
    if (!outcome) return null;
    await this.perform(momentId, outcome.requests, outcome.before);
    return { moment: outcome.moment, deleted: outcome.deleted };
  }

  /**
   * Records that RETENTION_DAYS expired a finished moment's recording and stems: their keys leave
   * the row. False when the moment is gone, deleted, already expired or (again) in progress.
   */
  async expireRecording(momentId: string): Promise<boolean> {
    const expired = await this.moments.withLockedMoment(momentId, async (moment, manager) => {
      if (moment.deletedAt || moment.assetsExpiredAt || !TERMINAL_STATUSES.includes(moment.status)) return false;
      withoutAssets(moment, EXPIRING_ASSETS);
      moment.assetsExpiredAt = new Date();
      await this.record(manager, moment, { eventType: 'ASSETS_EXPIRED', stage: null, applied: true, detail: `removed ${EXPIRING_ASSETS.join(', ')}` });
      await manager.save(moment);
      return true;
    });
    return expired ?? false;
  }

  /** Applies an event to the locked row in memory and records it in the history; the caller saves. */
  private async offer(manager: EntityManager, moment: MomentEntity, event: MomentEvent): Promise<{ requests: MomentRequest[]; changed: boolean }> {
    if (moment.machineVersion !== MACHINE_VERSION) {
      throw new Error(`moment ${moment.id} was saved by machine version ${moment.machineVersion}, this is ${MACHINE_VERSION}`);
    }
    const before = moment.snapshot;
    const result = applyMomentEvent(before, event);
    await manager.insert(MomentTransitionEntity, {
      momentId: moment.id,
      eventType: event.type,
      stage: 'stage' in event ? event.stage : null,
      fromState: stateLabel(before.value),
      toState: stateLabel(result.persisted.value),
      applied: result.changed,
      detail: eventDetail(event),
    });
    if (result.changed) projectMoment(moment, result.persisted);
    return { requests: result.requests, changed: result.changed };
  }

  /** A history row that leaves the machine's state as it is. */
  private record(manager: EntityManager, moment: MomentEntity, row: Pick<MomentTransitionEntity, 'eventType' | 'stage' | 'applied' | 'detail'>): Promise<unknown> {
    const state = stateLabel(moment.snapshot.value);
    return manager.insert(MomentTransitionEntity, { ...row, momentId: moment.id, fromState: state, toState: state });
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
