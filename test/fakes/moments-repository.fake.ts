import { createHash } from 'node:crypto';
import { TERMINAL_STATUSES } from '@mcm/pipeline';
import {
  IdempotencyConflict,
  InFlightLimitReached,
  MomentEntity,
  MomentTransitionEntity,
  MOMENT_VIEW_COLUMNS,
  WEBHOOK_EVENT_TYPES,
  subscribedEvent,
  webhookDeliveryId,
  type ChangeOutcome,
  type InsertOptions,
  type KnownMoment,
  type MomentChange,
  type MomentHistoryRow,
  type MomentListQuery,
  type MomentPoint,
  type MomentReading,
  type MomentReadingResult,
  type MomentsRepository,
} from '@mcm/core';
import type { Port } from './port';
import { FakeWebhookDeliveries } from './webhook-deliveries.fake';

const newestFirst = (a: MomentEntity, b: MomentEntity) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

/** Moments and their history in memory, with the repository's rules: one change at a time per moment, unique idempotency keys, the in-flight cap. */
export class FakeMomentsRepository implements Port<MomentsRepository> {
  readonly rows = new Map<string, MomentEntity>();
  readonly transitions: MomentTransitionEntity[] = [];
  /** The webhook outbox, as the changes wrote it. */
  readonly webhookOutbox = new FakeWebhookDeliveries();
  private readonly locks = new Map<string, Promise<unknown>>();
  private nextTransitionId = 1;
  reachable = true;

  /** The row's whole content stands for Postgres' xmin: any change to it is a new version. */
  private version(moment: MomentEntity): string {
    return createHash('sha256').update(JSON.stringify(moment)).digest('hex');
  }

  /** A copy, as a fresh read from the database would be. */
  private read(moment: MomentEntity | undefined): MomentEntity | null {
    return moment ? Object.assign(new MomentEntity(), structuredClone(moment)) : null;
  }

  async findById(id: string): Promise<MomentEntity | null> {
    return this.read(this.rows.get(id));
  }

  async findReading(id: string, knownVersion: string | null = null): Promise<MomentReadingResult | null> {
    const moment = this.read(this.rows.get(id));
    if (!moment) return null;
    const version = this.version(moment);
    const reading = Object.fromEntries([...MOMENT_VIEW_COLUMNS, 'owner'].map((column) => [column, moment[column as keyof MomentEntity]])) as unknown as MomentReading;
    return { version, owner: moment.owner, deletedAt: moment.deletedAt, moment: version === knownVersion ? null : reading };
  }

  async findByIdempotencyKey(key: string, owner: string | null): Promise<MomentEntity | null> {
    return this.read([...this.rows.values()].find((m) => m.idempotencyKey === key && (m.owner ?? '') === (owner ?? '')));
  }

  async countInFlight(owner: string): Promise<number> {
    return [...this.rows.values()].filter((m) => m.owner === owner && !TERMINAL_STATUSES.includes(m.status)).length;
  }

  async insert(moment: MomentEntity, transition: MomentHistoryRow, options: InsertOptions = {}): Promise<KnownMoment> {
    if (moment.idempotencyKey) {
      const existing = await this.findByIdempotencyKey(moment.idempotencyKey, moment.owner);
      if (existing) throw new IdempotencyConflict(existing);
    }
    if (options.maxInFlight && moment.owner && (await this.countInFlight(moment.owner)) >= options.maxInFlight) throw new InFlightLimitReached(options.maxInFlight);
    moment.updatedAt = new Date();
    this.rows.set(moment.id, this.read(moment)!);
    this.record(moment, transition);
    return { moment, version: this.version(moment) };
  }

  /** Decides on the row as stored, whatever `known` says: what the repository's version check comes to. */
  change<T>(id: string, decide: (moment: Readonly<MomentEntity>) => MomentChange<T>): Promise<ChangeOutcome<T> | null> {
    // Changes to one moment queue behind each other, as the row lock makes them.
    const previous = this.locks.get(id) ?? Promise.resolve();
    const next = previous.then(async () => {
      const moment = this.read(this.rows.get(id));
      if (!moment) return null;
      const { changes, history, result } = decide(Object.freeze(this.read(moment)!));
      const after = { ...moment, ...changes };
      for (const row of history) this.record(after, row);
      const event = history.length && moment.webhookUrl ? subscribedEvent(moment.webhookEvents, moment, after) : null;
      const webhooks: string[] = [];
      if (event) {
        const seq = this.transitions.at(-1)!.id;
        const delivery = {
          id: webhookDeliveryId(id, seq),
          momentId: id,
          seq,
          eventType: WEBHOOK_EVENT_TYPES[event],
          url: moment.webhookUrl!,
          point: { status: after.status, stage: after.stage, progress: after.progress, at: new Date().toISOString() },
        };
        if (this.webhookOutbox.put(delivery)) webhooks.push(delivery.id);
      }
      if (changes) {
        Object.assign(moment, changes, { updatedAt: new Date() });
        this.rows.set(id, this.read(moment)!);
      }
      return { moment, version: this.version(moment), result, webhooks };
    });
    this.locks.set(
      id,
      next.catch(() => undefined),
    );
    return next;
  }

  async list(query: MomentListQuery): Promise<MomentEntity[]> {
    return [...this.rows.values()]
      .filter((m) => !query.status?.length || query.status.includes(m.status))
      .filter((m) => query.owner === undefined || (m.owner ?? '') === (query.owner ?? ''))
      .filter((m) => !query.resumable || (!m.deletedAt && !m.assetsExpiredAt))
      .filter((m) => !query.cursor || newestFirst(m, Object.assign(new MomentEntity(), query.cursor)) > 0)
      .sort(newestFirst)
      .slice(0, query.limit)
      .map((m) => this.read(m)!);
  }

  async findStale(idleMs: number, limit: number): Promise<MomentEntity[]> {
    const before = Date.now() - idleMs;
    return [...this.rows.values()]
      .filter((m) => !TERMINAL_STATUSES.includes(m.status) && m.updatedAt.getTime() < before)
      .sort((a, b) => a.updatedAt.getTime() - b.updatedAt.getTime())
      .slice(0, limit)
      .map((m) => this.read(m)!);
  }

  async findExpirable(cutoff: Date, limit: number): Promise<string[]> {
    return [...this.rows.values()]
      .filter((m) => !m.deletedAt && !m.assetsExpiredAt && m.createdAt < cutoff && TERMINAL_STATUSES.includes(m.status))
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
      .slice(0, limit)
      .map((m) => m.id);
  }

  async storageStates(ids: string[]): Promise<Map<string, { deleted: boolean; expired: boolean }>> {
    return new Map(ids.filter((id) => this.rows.has(id)).map((id) => [id, { deleted: Boolean(this.rows.get(id)!.deletedAt), expired: Boolean(this.rows.get(id)!.assetsExpiredAt) }]));
  }

  async countByStatus(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const moment of this.rows.values()) counts.set(moment.status, (counts.get(moment.status) ?? 0) + 1);
    return counts;
  }

  async history(id: string): Promise<MomentTransitionEntity[]> {
    return this.transitions.filter((row) => row.momentId === id);
  }

  async pointsSince(momentId: string, afterSeq: bigint): Promise<MomentPoint[]> {
    const points = this.transitions
      .filter((row) => row.momentId === momentId && row.status)
      .map((row) => ({ seq: BigInt(row.id), status: row.status!, stage: row.momentStage, progress: row.progress! }));
    const known = points.filter((point) => point.seq <= afterSeq).at(-1);
    return points.filter((point) => point.seq > afterSeq || point === known);
  }

  async lastSeqs(ids: string[]): Promise<Map<string, bigint>> {
    const last = new Map<string, bigint>();
    for (const row of this.transitions) if (ids.includes(row.momentId)) last.set(row.momentId, BigInt(row.id));
    return last;
  }

  async isReachable(): Promise<boolean> {
    return this.reachable;
  }

  /** Puts a row as it is, as if an earlier process had written it. */
  seed(moment: MomentEntity): void {
    this.rows.set(moment.id, this.read(moment)!);
  }

  private record(moment: Pick<MomentEntity, 'id' | 'status' | 'stage' | 'progress'>, row: MomentHistoryRow): void {
    const point = { status: moment.status, momentStage: moment.stage, progress: moment.progress };
    this.transitions.push(Object.assign(new MomentTransitionEntity(), { ...row, ...point, momentId: moment.id, id: String(this.nextTransitionId++), createdAt: new Date() }));
  }
}
