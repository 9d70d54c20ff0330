import { Injectable, Logger } from '@nestjs/common';
import {
  EXPIRING_ASSETS,
  MACHINE_VERSION,
  MomentStatus,
  TERMINAL_STATUSES,
  applyMomentEvent,
  awaitedRuns,
  describeMoment,
  migrateSnapshot,
  startMoment,
  type MomentEvent,
  type MomentInput,
  type MomentRequest,
  type MomentAssets,
  type PersistedMoment,
  type StageRun,
} from '@mcm/pipeline';
import { MomentEntity } from '../database/moment.entity';
import { AppMetrics } from '../observability/metrics';
import { StageQueue } from '../queue/stage-queue';
import { WebhookQueue } from '../queue/webhook-queue';
import type { WebhookEvent } from '../webhooks/webhook-events';
import { MomentsRepository, type InsertOptions, type KnownMoment, type MomentHistoryRow } from './moments.repository';

export interface NewMoment extends MomentInput {
  style?: string | null;
  title?: string | null;
  lyrics?: string | null;
  originalFilename?: string | null;
  owner?: string | null;
  idempotencyKey?: string | null;
  requestHash?: string | null;
  webhookUrl?: string | null;
  /** Null: the default events. */
  webhookEvents?: WebhookEvent[] | null;
}

/** `active.analyzing.analyze`, `rendering(vocals.running,instrumental.done)`-style labels for the history. */
export function stateLabel(value: unknown): string {
  if (typeof value === 'string') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 1) return `${entries[0][0]}.${stateLabel(entries[0][1])}`;
  return `(${entries.map(([key, child]) => `${key}.${stateLabel(child)}`).join(',')})`;
}

/** The row's queryable columns, as the snapshot says them. */
export function projectMoment(moment: Pick<MomentEntity, 'completedAt'>, persisted: PersistedMoment): Partial<MomentEntity> {
  const view = describeMoment(persisted);
  const { context } = persisted;
  return {
    snapshot: persisted,
    machineVersion: MACHINE_VERSION,
    status: view.status,
    stage: view.stage,
    progress: view.progress,
    blueprint: context.blueprint,
    analysis: context.analysis,
    assets: context.assets,
    error: context.error,
    attempts: context.totalAttempts,
    timingsMs: context.timings,
    completedAt: view.status === MomentStatus.Completed ? (moment.completedAt ?? new Date()) : null,
  };
}

/** The stored snapshot in this machine's shape: rows saved by an earlier machine version go through its migration steps. */
export function currentSnapshot(moment: Pick<MomentEntity, 'machineVersion' | 'snapshot'>): PersistedMoment {
  return migrateSnapshot(moment.machineVersion, moment.snapshot);
}

/** What a decision leaves for after commit: the machine's requests, and the snapshot they were made from. */
interface AfterCommit {
  before: PersistedMoment | null;
  requests: MomentRequest[];
}

export interface ApplyOptions {
  /** Offer the event only if the moment waits for exactly this run of a stage (a live, current attempt); else write nothing. */
  forRun?: Pick<StageRun, 'stage' | 'run' | 'attempt'>;
  /** The row as an earlier change committed it (its outcome, passed along): the event is decided on it, and written only if the row is still at that version. */
  known?: KnownMoment;
}

/** An event's outcome: the row as committed and its version, whether the snapshot moved (`applied`) and whether the machine took the event (`accepted`). */
export interface Applied extends KnownMoment {
  applied: boolean;
  accepted: boolean;
}

/** Whether a live moment waits for exactly `run`: a stale attempt, an earlier run, a canceled or deleted moment does not. */
function awaits(moment: MomentEntity, run: Pick<StageRun, 'stage' | 'run' | 'attempt'>): boolean {
  return !moment.deletedAt && awaitedRuns(currentSnapshot(moment)).some((awaited) => awaited.stage === run.stage && awaited.run === run.run && awaited.attempt === run.attempt);
}

/** Who asked for a deletion, as the history records it. */
export type DeletedBy = 'client' | 'operator';

/** Why the machine may not see an event at all: a deleted moment never moves again, an expired one never resumes. */
function refusal(moment: MomentEntity, event: MomentEvent): string | null {
  if (moment.deletedAt) return 'the moment was deleted';
  if (event.type === 'RETRY' && moment.assetsExpiredAt) return 'the recording expired';
  return null;
}

/** The row's assets and its snapshot's, kept in step, minus `names`. */
function withoutAssets(moment: Pick<MomentEntity, 'assets' | 'snapshot'>, names: readonly (keyof MomentAssets)[]): Pick<MomentEntity, 'assets' | 'snapshot'> {
  const kept = (assets: MomentAssets): MomentAssets => Object.fromEntries(Object.entries(assets ?? {}).filter(([name]) => !names.includes(name as keyof MomentAssets)));
  return { assets: kept(moment.assets), snapshot: { ...moment.snapshot, context: { ...moment.snapshot.context, assets: kept(moment.snapshot.context.assets) } } };
}

/** A tombstone keeps the id, its owner and how it ended; nothing the person recorded or typed. */
function tombstone(moment: Pick<MomentEntity, 'assets' | 'snapshot'>, at: Date): Partial<MomentEntity> {
  const emptied = withoutAssets(moment, Object.keys({ ...moment.assets, ...moment.snapshot.context.assets }) as (keyof MomentAssets)[]);
  return {
    ...emptied,
    snapshot: { ...emptied.snapshot, context: { ...emptied.snapshot.context, analysis: null, blueprint: null } },
    deletedAt: at,
    title: null,
    lyrics: null,
    originalFilename: null,
    blueprint: null,
    analysis: null,
  };
}

/** A history row that leaves the machine's state as it is. */
function note(moment: Pick<MomentEntity, 'snapshot'>, row: Pick<MomentHistoryRow, 'eventType' | 'stage' | 'applied' | 'detail'>): MomentHistoryRow {
  const state = stateLabel(moment.snapshot.value);
  return { ...row, fromState: state, toState: state };
}

/** An event offered to the moment's machine: the columns it changes (none when ignored), its history row, and the machine's requests. */
function offer(
  moment: Readonly<MomentEntity>,
  event: MomentEvent,
): { before: PersistedMoment; changes?: Partial<MomentEntity>; row: MomentHistoryRow; requests: MomentRequest[]; changed: boolean; accepted: boolean } {
  const before = currentSnapshot(moment);
  const result = applyMomentEvent(before, event);
  const row: MomentHistoryRow = {
    eventType: event.type,
    stage: 'stage' in event ? event.stage : null,
    fromState: stateLabel(before.value),
    toState: stateLabel(result.persisted.value),
    applied: result.accepted,
    detail: eventDetail(event),
  };
  return { before, changes: result.changed ? projectMoment(moment, result.persisted) : undefined, row, requests: result.requests, changed: result.changed, accepted: result.accepted };
}

/** True when `changes` take a moment in progress to COMPLETED, FAILED or CANCELED: its end-to-end latency is measured then. */
function endsMoment(moment: Pick<MomentEntity, 'status'>, changes: Partial<MomentEntity> | undefined): boolean {
  return !TERMINAL_STATUSES.includes(moment.status) && changes?.status !== undefined && TERMINAL_STATUSES.includes(changes.status);
}

function eventDetail(event: MomentEvent): string | null {
  if (event.type === 'STAGE_FAILED') return `${event.error.code}: ${event.error.detail ?? event.error.message}`.slice(0, 1000);
  if (event.type === 'CANCEL') return event.reason ?? null;
  return null;
}

/**
 * Each moment is an actor: an event is applied to its snapshot as last committed, the new
 * snapshot is committed only if the row has not moved since (else the event is applied again, to
 * the row as it is then), and only then are the machine's requests carried out.
 */
@Injectable()
export class MomentLifecycle {
  private readonly logger = new Logger(MomentLifecycle.name);

  constructor(
    private readonly moments: MomentsRepository,
    private readonly queue: StageQueue,
    private readonly webhooks: WebhookQueue,
    private readonly metrics: AppMetrics = new AppMetrics(),
  ) {}

  async create(input: NewMoment, options: InsertOptions = {}): Promise<MomentEntity> {
    const started = startMoment(input);
    const moment = Object.assign(new MomentEntity(), projectMoment({ completedAt: null }, started.persisted), {
      id: input.momentId,
      outputKind: input.outputKind,
      style: input.style ?? null,
      title: input.title ?? null,
      lyrics: input.lyrics ?? null,
      originalFilename: input.originalFilename ?? null,
      owner: input.owner ?? null,
      idempotencyKey: input.idempotencyKey ?? null,
      requestHash: input.requestHash ?? null,
      webhookUrl: input.webhookUrl ?? null,
      webhookEvents: input.webhookUrl ? (input.webhookEvents ?? null) : null,
      deletedAt: null,
      assetsExpiredAt: null,
      // Millisecond precision (not Postgres' microseconds), so a `created_at|id` list cursor is exact.
      createdAt: new Date(),
    });
    // The insert reads back what Postgres fills in (updated_at), so the row needs no second read.
    await this.moments.insert(moment, { eventType: 'CREATED', stage: null, fromState: '', toState: stateLabel(started.persisted.value), applied: true, detail: null }, options);
    await this.perform(moment.id, started.requests, null);
    return moment;
  }

  /**
   * Offers an event to a moment's machine. Returns null for an unknown moment. A deleted moment
   * takes no event (a late stage result cannot bring it back), an expired one no RETRY.
   * `applied`: the snapshot moved; `accepted`: the machine took the event (a stage's start moves nothing).
   * The moment returned is the row as committed, with its version, for the caller to work from (and to pass
   * along as `known` to its next event) without reading it again.
   */
  async apply(momentId: string, event: MomentEvent, options: ApplyOptions = {}): Promise<Applied | null> {
    const outcome = await this.moments.change<AfterCommit & { changed: boolean; accepted: boolean; ended: boolean }>(
      momentId,
      (moment) => {
        if (options.forRun && !awaits(moment, options.forRun)) return { history: [], result: { before: null, requests: [], changed: false, accepted: false, ended: false } };
        const refused = refusal(moment, event);
        if (refused) {
          const row = note(moment, { eventType: event.type, stage: 'stage' in event ? event.stage : null, applied: false, detail: refused });
          return { history: [row], result: { before: null, requests: [], changed: false, accepted: false, ended: false } };
        }
        const { before, changes, row, requests, changed, accepted } = offer(moment, event);
        return { changes, history: [row], result: { before, requests, changed, accepted, ended: endsMoment(moment, changes) } };
      },
      options.known,
    );
    if (!outcome) return null;
    if (outcome.result.ended) this.metrics.observeMomentEnded(outcome.moment.status, outcome.moment.createdAt);
    await this.perform(momentId, outcome.result.requests, outcome.result.before, outcome.webhooks);
    return { moment: outcome.moment, version: outcome.version, applied: outcome.result.changed, accepted: outcome.result.accepted };
  }

  /**
   * Deletes a moment: one still in progress is canceled through its machine first (its queued
   * stages are removed), then the row becomes a tombstone without asset keys. Removing the
   * objects is the caller's; `deleted` is false when the moment was already deleted.
   */
  async delete(momentId: string, by: DeletedBy): Promise<{ moment: MomentEntity; deleted: boolean } | null> {
    const outcome = await this.moments.change<AfterCommit & { deleted: boolean; ended: boolean }>(momentId, (moment) => {
      if (moment.deletedAt) return { history: [], result: { before: null, requests: [], deleted: false, ended: false } };
      const detail = `deleted by ${by === 'client' ? 'the client' : 'an operator'}`;
      const canceled = TERMINAL_STATUSES.includes(moment.status) ? null : offer(moment, { type: 'CANCEL', reason: detail });
      const ended = { ...moment, ...canceled?.changes };
      const history = [...(canceled ? [canceled.row] : []), note(ended, { eventType: 'DELETED', stage: null, applied: true, detail })];
      return {
        changes: { ...canceled?.changes, ...tombstone(ended, new Date()) },
        history,
        result: { before: canceled?.before ?? null, requests: canceled?.requests ?? [], deleted: true, ended: endsMoment(moment, canceled?.changes) },
      };
    });
    if (!outcome) return null;
    if (outcome.result.ended) this.metrics.observeMomentEnded(outcome.moment.status, outcome.moment.createdAt);
    await this.perform(momentId, outcome.result.requests, outcome.result.before, outcome.webhooks);
    return { moment: outcome.moment, deleted: outcome.result.deleted };
  }

  /**
   * Records that RETENTION_DAYS expired a finished moment's recording and stems: their keys leave
   * the row. False when the moment is gone, deleted, already expired or (again) in progress.
   */
  async expireRecording(momentId: string): Promise<boolean> {
    const outcome = await this.moments.change(momentId, (moment) => {
      if (moment.deletedAt || moment.assetsExpiredAt || !TERMINAL_STATUSES.includes(moment.status)) return { history: [], result: false };
      const row = note(moment, { eventType: 'ASSETS_EXPIRED', stage: null, applied: true, detail: `removed ${EXPIRING_ASSETS.join(', ')}` });
      return { changes: { ...withoutAssets(moment, EXPIRING_ASSETS), assetsExpiredAt: new Date() }, history: [row], result: true };
    });
    return outcome?.result ?? false;
  }

  /**
   * Carries out the machine's requests and sends the change's webhook deliveries after commit. A
   * failure here loses nothing: the rows say what they wait for, and the reconciler enqueues them again.
   */
  private async perform(momentId: string, requests: MomentRequest[], before: PersistedMoment | null, webhooks: string[] = []): Promise<void> {
    for (const deliveryId of webhooks) {
      await this.webhooks.enqueue(deliveryId).catch((error: Error) => this.logger.warn(`webhook ${deliveryId} deferred to the reconciler (${error.message})`));
    }
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
      for (const run of awaitedRuns(currentSnapshot(moment))) {
        if (await this.queue.isLive(moment.id, run)) continue;
        await this.queue.revive(moment.id, run);
        revived += 1;
        this.logger.warn(`moment ${moment.id}: re-enqueued ${run.stage} (run ${run.run}, attempt ${run.attempt})`);
      }
    }
    return revived;
  }
}
