import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import DataLoader from 'dataloader';
import type { PoolClient, QueryResult } from 'pg';
import { DataSource, type EntityManager } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { TERMINAL_STATUSES, type MomentStatus, type Stage } from '@mcm/pipeline';
import { MomentEntity } from '../database/moment.entity';
import { MomentTransitionEntity } from '../database/moment-transition.entity';
import { WebhookDeliveriesRepository } from '../webhooks/webhook-deliveries.repository';
import { WEBHOOK_EVENT_TYPES, subscribedEvent, webhookDeliveryId, type MomentPosition } from '../webhooks/webhook-events';
import { MOMENT_CHANGED_CHANNEL } from './moment-change-feed';
import { MOMENT_ID } from './moment-id';
import { MOMENT_VIEW_COLUMNS, type MomentViewSource } from './moment-view';

/** A moment as a client reads it: the columns of its view, and whose it is. */
export type MomentReading = MomentViewSource & Pick<MomentEntity, 'owner'>;
const READING_COLUMNS = [...MOMENT_VIEW_COLUMNS, 'owner'] as const;

/** A client's read of one row: its version, whose it is, and its view's columns unless the caller already has them. */
export interface MomentReadingResult {
  /** The row's version (Postgres' `xmin`, the transaction that wrote it): every committed change gives a new one. */
  version: string;
  owner: string | null;
  deletedAt: Date | null;
  /** The view's columns; null when the row is still at the version the caller named. */
  moment: MomentReading | null;
}

export interface MomentListQuery {
  status?: MomentStatus[];
  owner?: string | null;
  /** Only moments an operator can still resume: not deleted, recording not expired. */
  resumable?: boolean;
  limit: number;
  /** Opaque cursor: the `created_at|id` of the last row of the previous page. */
  cursor?: { createdAt: Date; id: string } | null;
}

export class IdempotencyConflict extends Error {
  constructor(public readonly existing: MomentEntity) {
    super('idempotency key already used');
  }
}

/** The owner already has `limit` moments in flight. */
export class InFlightLimitReached extends Error {
  constructor(public readonly limit: number) {
    super(`${limit} moments already in flight`);
  }
}

export interface InsertOptions {
  /** Refuse the insert (`InFlightLimitReached`) when the owner already has this many moments in flight. */
  maxInFlight?: number | null;
}

/** Where a moment stood after one row of its history: what a live event reports. */
export interface MomentPoint {
  seq: bigint;
  status: MomentStatus;
  stage: Stage | null;
  progress: number;
}

/** The status, stage and progress a history row records: the moment's, once the change is made. */
function pointOf(moment: Pick<MomentEntity, 'status' | 'stage' | 'progress'>): Pick<MomentTransitionEntity, 'status' | 'momentStage' | 'progress'> {
  return { status: moment.status, momentStage: moment.stage, progress: moment.progress };
}

/** One row of a moment's history, as a change to the moment writes it. */
export type MomentHistoryRow = Pick<MomentTransitionEntity, 'eventType' | 'stage' | 'fromState' | 'toState' | 'applied' | 'detail'>;

/** What a decision about a locked moment writes: the columns that change (none: the row stays), its history rows, and what the caller learns. */
export interface MomentChange<T> {
  changes?: Partial<MomentEntity>;
  history: MomentHistoryRow[];
  result: T;
}

/** The columns of a history row, in the order `historyStatement` gives their values. */
const HISTORY_COLUMNS = ['moment_id', 'event_type', 'stage', 'from_state', 'to_state', 'applied', 'detail', 'status', 'moment_stage', 'progress'];

type HistoryInsert = MomentHistoryRow & Pick<MomentTransitionEntity, 'status' | 'momentStage' | 'progress'>;

/**
 * One statement that writes a change, so one round trip: `write` (an INSERT or UPDATE of the
 * moment returning `updated_at`; its parameters come first) when there is one, the history rows,
 * and the change feed's notice naming the last of them, which Postgres sends only if the
 * transaction commits. It answers the last row's id as `seq`, and the moment's `updated_at`.
 */
function historyStatement(momentId: string, rows: HistoryInsert[], write?: [string, unknown[]]): [string, unknown[]] {
  const parameters = [...(write?.[1] ?? []), MOMENT_CHANGED_CHANNEL, momentId];
  const [channel, id] = [parameters.length - 1, parameters.length];
  const values = rows.map((row) => {
    parameters.push(row.eventType, row.stage, row.fromState, row.toState, row.applied, row.detail, row.status, row.momentStage, row.progress);
    const at = parameters.length - 8;
    return `($${id}::uuid, ${Array.from({ length: 9 }, (_, i) => `$${at + i}`).join(', ')})`;
  });
  const sql = `WITH ${write ? `written AS (${write[0]}), ` : ''}added AS (
      INSERT INTO moment_transitions (${HISTORY_COLUMNS.join(', ')}) VALUES ${values.join(', ')} RETURNING id
    ), last AS (SELECT max(id) AS seq FROM added)
    SELECT last.seq, ${write ? '(SELECT updated_at FROM written)' : 'NULL::timestamptz'} AS updated_at, pg_notify($${channel}, $${id} || ':' || last.seq) FROM last`;
  return [sql, parameters];
}

// Namespace of the per-owner advisory locks that serialise an owner's creates.
const IN_FLIGHT_LOCK = 0x6d636d01;

@Injectable()
export class MomentsRepository {
  /** The statements of `findReading` and the property each of its columns fills, made once. */
  private reading?: { sql: string; stamps: string; columns: Array<[string, string]> };
  /**
   * Version reads of the moments asked for in one turn of the event loop, answered by one statement. Nothing
   * is kept between turns: each read is asked of Postgres after its request arrived, so it sees every change
   * committed before. Under load the requests one turn parses share a round trip instead of one each.
   */
  private readonly stamps = new DataLoader<string, Record<string, unknown> | null>((ids) => this.readStamps(ids), {
    cache: false,
    batchScheduleFn: (dispatch) => setImmediate(dispatch),
    maxBatchSize: 200,
  });
  private built?: { lock: string; columns: Map<string, ColumnMetadata> };

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly webhooks: WebhookDeliveriesRepository,
  ) {}

  findById(id: string): Promise<MomentEntity | null> {
    return this.dataSource.getRepository(MomentEntity).findOneBy({ id });
  }

  /**
   * The columns a client's read needs, by primary key: one fixed statement, no snapshot, no query
   * building per call. A status poll runs this and nothing else against the database. Given the
   * version the caller last read (`knownVersion`), a smaller statement comes first: the row's version,
   * owner and deletion only, and the columns follow only when the row has changed since.
   */
  async findReading(id: string, knownVersion: string | null = null): Promise<MomentReadingResult | null> {
    const statements = this.readingStatements();
    if (knownVersion !== null) {
      const stamp = await this.stamps.load(id);
      if (!stamp) return null;
      if (stamp.row_version === knownVersion) return { version: knownVersion, owner: stamp.owner as string | null, deletedAt: stamp.deleted_at as Date | null, moment: null };
    }
    const [row] = await this.dataSource.query<Array<Record<string, unknown>>>(statements.sql, [id]);
    if (!row) return null;
    const moment: Record<string, unknown> = {};
    for (const [property, column] of statements.columns) moment[property] = row[column];
    const reading = moment as unknown as MomentReading;
    return { version: row.row_version as string, owner: reading.owner, deletedAt: reading.deletedAt, moment: reading };
  }

  private async readStamps(ids: readonly string[]): Promise<Array<Record<string, unknown> | null>> {
    const rows = await this.dataSource.query<Array<Record<string, unknown>>>(this.readingStatements().stamps, [[...new Set(ids)]]);
    const byId = new Map(rows.map((row) => [row.id as string, row]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  private readingStatements(): { sql: string; stamps: string; columns: Array<[string, string]> } {
    if (this.reading) return this.reading;
    const metadata = this.dataSource.getMetadata(MomentEntity);
    const column = (property: string) => metadata.findColumnWithPropertyName(property)!.databaseName;
    const columns = READING_COLUMNS.map((property): [string, string] => [property, column(property)]);
    // xmin, the transaction that wrote the row's current version, is the version: any committed change, by any writer, gives a new one.
    return (this.reading = {
      sql: `SELECT "xmin"::text AS row_version, ${columns.map(([, name]) => `"${name}"`).join(', ')} FROM "${metadata.tableName}" WHERE "id" = $1`,
      stamps: `SELECT "id", "xmin"::text AS row_version, "${column('owner')}" AS owner, "${column('deletedAt')}" AS deleted_at FROM "${metadata.tableName}" WHERE "id" = ANY($1::uuid[])`,
      columns,
    });
  }

  findByIdempotencyKey(key: string, owner: string | null): Promise<MomentEntity | null> {
    return this.dataSource
      .getRepository(MomentEntity)
      .createQueryBuilder('m')
      .where('m.idempotency_key = :key', { key })
      .andWhere("COALESCE(m.owner, '') = :owner", { owner: owner ?? '' })
      .getOne();
  }

  /** Moments of `owner` not yet COMPLETED, FAILED or CANCELED. */
  countInFlight(owner: string, manager: EntityManager = this.dataSource.manager): Promise<number> {
    return manager
      .getRepository(MomentEntity)
      .createQueryBuilder('m')
      .where('m.owner = :owner', { owner })
      .andWhere('m.status NOT IN (:...terminal)', { terminal: [...TERMINAL_STATUSES] })
      .getCount();
  }

  /**
   * Inserts a new moment and its first history row; a taken idempotency key raises `IdempotencyConflict`,
   * an owner at `maxInFlight` raises `InFlightLimitReached`. Without a cap it is one statement, so
   * one round trip: the row, its history row and the change feed's notice commit together.
   */
  async insert(moment: MomentEntity, transition: MomentHistoryRow, options: InsertOptions = {}): Promise<void> {
    try {
      if (options.maxInFlight && moment.owner) {
        await this.dataSource.transaction(async (manager) => {
          await this.claimInFlightSlot(manager, moment, options.maxInFlight!);
          await this.insertWithHistory(manager, moment, transition);
        });
      } else {
        await this.insertWithHistory(this.dataSource.manager, moment, transition);
      }
    } catch (error) {
      if ((error as { code?: string }).code === '23505' && moment.idempotencyKey) {
        const existing = await this.findByIdempotencyKey(moment.idempotencyKey, moment.owner);
        if (existing) throw new IdempotencyConflict(existing);
      }
      throw error;
    }
  }

  /** The row, its first history row and the notice in one statement; reads back what Postgres fills in (updated_at). */
  private async insertWithHistory(manager: EntityManager, moment: MomentEntity, transition: MomentHistoryRow): Promise<void> {
    const [sql, parameters] = manager
      .createQueryBuilder()
      .insert()
      .into(MomentEntity)
      .values(moment as QueryDeepPartialEntity<MomentEntity>)
      .returning('"updated_at"')
      .getQueryAndParameters();
    const rows = await manager.query<Array<{ updated_at: Date }>>(...historyStatement(moment.id, [{ ...transition, ...pointOf(moment) }], [sql, parameters]));
    moment.updatedAt = rows[0].updated_at;
  }

  /**
   * Counts the owner's moments in flight inside the insert's transaction, holding a lock on the owner
   * until it commits, so concurrent creates cannot all take the last slot.
   */
  private async claimInFlightSlot(manager: EntityManager, moment: MomentEntity, limit: number): Promise<void> {
    await manager.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [IN_FLIGHT_LOCK, moment.owner]);
    // A concurrent request with the same key got here first: it is a replay, not one more moment.
    if (moment.idempotencyKey) {
      const existing = await manager.getRepository(MomentEntity).findOneBy({ owner: moment.owner!, idempotencyKey: moment.idempotencyKey });
      if (existing) throw new IdempotencyConflict(existing);
    }
    if ((await this.countInFlight(moment.owner!, manager)) >= limit) throw new InFlightLimitReached(limit);
  }

  /**
   * Locks the moment's row, asks `decide` (pure: it reads the row and changes nothing) what to
   * write, and writes the changed columns and the history rows in one transaction, so events for
   * one moment apply one at a time. A change that is an event the moment's webhook subscribes to
   * writes its delivery in the same transaction (the outbox); `webhooks` names the deliveries
   * written, for the caller to enqueue after commit. Null for an unknown moment.
   */
  change<T>(id: string, decide: (moment: Readonly<MomentEntity>) => MomentChange<T>): Promise<{ moment: MomentEntity; result: T; webhooks: string[] } | null> {
    return this.lockedTransaction(id, async (row, manager) => {
      if (!row) return null;
      const moment = Object.assign(new MomentEntity(), row);
      const { changes, history, result } = decide(moment);
      const next = { ...moment, ...changes };
      const webhooks: string[] = [];
      // The locked row is the truth until commit: it is updated in place, never read again.
      const update = changes ? this.updateStatement(id, changes) : null;
      if (history.length) {
        const rows = history.map((row) => ({ ...row, ...pointOf(next) }));
        const [written] = await manager.query<Array<{ seq: string; updated_at: Date | null }>>(...historyStatement(id, rows, update ?? undefined));
        const delivery = await this.addWebhookDelivery(manager, moment, next, written.seq);
        if (delivery) webhooks.push(delivery);
        if (changes) Object.assign(moment, changes, { updatedAt: written.updated_at });
      } else if (update) {
        const [written] = await manager.query<Array<{ updated_at: Date }>>(update[0], update[1]);
        Object.assign(moment, changes, { updatedAt: written.updated_at });
      }
      return { moment, result, webhooks };
    });
  }

  /**
   * A transaction that starts with the moment's row locked: `BEGIN` and the locked read go to Postgres as one
   * message (the simple protocol, the id a quoted literal; it takes no parameters), so a change costs three round
   * trips instead of four. `work` writes through `manager`, on the same connection; its return commits, its
   * throw rolls back.
   */
  private async lockedTransaction<R>(id: string, work: (row: MomentEntity | undefined, manager: EntityManager) => Promise<R>): Promise<R> {
    if (!MOMENT_ID.test(id)) throw new Error(`not a moment id: ${JSON.stringify(id)}`);
    const runner = this.dataSource.createQueryRunner('master');
    try {
      const client = (await runner.connect()) as PoolClient;
      try {
        const results = (await client.query(`BEGIN; ${this.statements().lock.replace('$1', client.escapeLiteral(id))}`)) as unknown as QueryResult<MomentEntity>[];
        const outcome = await work(results[1].rows[0], runner.manager);
        await client.query('COMMIT');
        return outcome;
      } catch (error) {
        // A failed read leaves the transaction open as well: roll back whatever failed.
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    } finally {
      await runner.release();
    }
  }

  /** The row lock's read, built once from the entity's columns: Postgres' own types (jsonb, timestamptz, real) arrive as the entity's. */
  private statements(): { lock: string; columns: Map<string, ColumnMetadata> } {
    if (!this.built) {
      const { columns } = this.dataSource.getMetadata(MomentEntity);
      this.built = {
        lock: `SELECT ${columns.map((column) => `"${column.databaseName}" AS "${column.propertyName}"`).join(', ')} FROM moments WHERE id = $1 FOR UPDATE`,
        columns: new Map(columns.map((column) => [column.propertyName, column])),
      };
    }
    return this.built;
  }

  /** An UPDATE of `changes` (values prepared as TypeORM saves them) that answers the new `updated_at`. */
  private updateStatement(id: string, changes: Partial<MomentEntity>): [string, unknown[]] {
    const { columns } = this.statements();
    const parameters: unknown[] = [];
    const assignments = Object.entries(changes)
      .filter(([, value]) => value !== undefined)
      .map(([property, value]) => {
        const column = columns.get(property);
        if (!column) throw new Error(`moments has no column for ${property}`);
        parameters.push(this.dataSource.driver.preparePersistentValue(value, column));
        return `"${column.databaseName}" = $${parameters.length}`;
      });
    parameters.push(id);
    return [`UPDATE moments SET ${[...assignments, 'updated_at = CURRENT_TIMESTAMP'].join(', ')} WHERE id = $${parameters.length} RETURNING updated_at`, parameters];
  }

  /** The outbox row of the change from `moment` to `point`, when it is an event its webhook subscribes to; its id when written. */
  private async addWebhookDelivery(manager: EntityManager, moment: MomentEntity, next: MomentPosition, seq: string): Promise<string | null> {
    if (!moment.webhookUrl) return null;
    const after: MomentPosition = { status: next.status, stage: next.stage, progress: next.progress };
    const event = subscribedEvent(moment.webhookEvents, moment, after);
    if (!event) return null;
    const id = webhookDeliveryId(moment.id, seq);
    const written = await this.webhooks.add(manager, {
      id,
      momentId: moment.id,
      seq,
      eventType: WEBHOOK_EVENT_TYPES[event],
      url: moment.webhookUrl,
      point: { ...after, at: new Date().toISOString() },
    });
    return written ? id : null;
  }

  /**
   * Where the moment stood after each history row following `afterSeq`, oldest first, led by the
   * row at or before `afterSeq` (the point a reader already knows) when there is one.
   */
  async pointsSince(momentId: string, afterSeq: bigint): Promise<MomentPoint[]> {
    const rows = await this.dataSource.query<Array<{ id: string; status: MomentStatus; moment_stage: Stage | null; progress: number }>>(
      `SELECT id, status, moment_stage, progress FROM moment_transitions
        WHERE moment_id = $1 AND status IS NOT NULL
          AND id >= COALESCE((SELECT max(id) FROM moment_transitions WHERE moment_id = $1 AND status IS NOT NULL AND id <= $2), 0)
        ORDER BY id`,
      [momentId, afterSeq.toString()],
    );
    return rows.map((row) => ({ seq: BigInt(row.id), status: row.status, stage: row.moment_stage, progress: row.progress }));
  }

  /** The id of each moment's last history row, for the moments of `ids` that have one. */
  async lastSeqs(ids: string[]): Promise<Map<string, bigint>> {
    if (!ids.length) return new Map();
    const rows = await this.dataSource.query<Array<{ moment_id: string; seq: string }>>(
      'SELECT moment_id, max(id) AS seq FROM moment_transitions WHERE moment_id = ANY($1::uuid[]) GROUP BY moment_id',
      [ids],
    );
    return new Map(rows.map((row) => [row.moment_id, BigInt(row.seq)]));
  }

  async list(query: MomentListQuery): Promise<MomentEntity[]> {
    const builder = this.dataSource.getRepository(MomentEntity).createQueryBuilder('m');
    if (query.status?.length) builder.andWhere('m.status IN (:...status)', { status: query.status });
    if (query.owner !== undefined) builder.andWhere("COALESCE(m.owner, '') = :owner", { owner: query.owner ?? '' });
    if (query.resumable) builder.andWhere('m.deleted_at IS NULL AND m.assets_expired_at IS NULL');
    if (query.cursor) {
      builder.andWhere('(m.created_at, m.id) < (:createdAt, :id)', { createdAt: query.cursor.createdAt, id: query.cursor.id });
    }
    return builder.orderBy('m.created_at', 'DESC').addOrderBy('m.id', 'DESC').limit(query.limit).getMany();
  }

  /** Moments still in flight whose row has not moved for `idleMs`: the reconciler's candidates. */
  findStale(idleMs: number, limit: number): Promise<MomentEntity[]> {
    return this.dataSource
      .getRepository(MomentEntity)
      .createQueryBuilder('m')
      .where('m.status NOT IN (:...terminal)', { terminal: [...TERMINAL_STATUSES] })
      .andWhere('m.updated_at < :before', { before: new Date(Date.now() - idleMs) })
      .orderBy('m.updated_at', 'ASC')
      .limit(limit)
      .getMany();
  }

  /** Finished, live moments created before `cutoff` whose recording is still stored: what RETENTION_DAYS expires. */
  async findExpirable(cutoff: Date, limit: number): Promise<string[]> {
    const rows = await this.dataSource
      .getRepository(MomentEntity)
      .createQueryBuilder('m')
      .select('m.id', 'id')
      .where('m.deleted_at IS NULL AND m.assets_expired_at IS NULL')
      .andWhere('m.created_at < :cutoff', { cutoff })
      .andWhere('m.status IN (:...terminal)', { terminal: [...TERMINAL_STATUSES] })
      .orderBy('m.created_at', 'ASC')
      .limit(limit)
      .getRawMany<{ id: string }>();
    return rows.map((row) => row.id);
  }

  /** For each of `ids` that has a row: whether it was deleted and whether its recording expired. */
  async storageStates(ids: string[]): Promise<Map<string, { deleted: boolean; expired: boolean }>> {
    if (!ids.length) return new Map();
    const rows = await this.dataSource
      .getRepository(MomentEntity)
      .createQueryBuilder('m')
      .select(['m.id AS id', 'm.deleted_at IS NOT NULL AS deleted', 'm.assets_expired_at IS NOT NULL AS expired'])
      .where('m.id IN (:...ids)', { ids })
      .getRawMany<{ id: string; deleted: boolean; expired: boolean }>();
    return new Map(rows.map((row) => [row.id, { deleted: row.deleted, expired: row.expired }]));
  }

  /** Moments by status, tombstones included: one aggregate the `(status, updated_at)` index answers. */
  async countByStatus(): Promise<Map<string, number>> {
    const rows: { status: string; count: number }[] = await this.dataSource.query('SELECT status, count(*)::int AS count FROM moments GROUP BY status');
    return new Map(rows.map((row) => [row.status, row.count]));
  }

  history(id: string): Promise<MomentTransitionEntity[]> {
    return this.dataSource.getRepository(MomentTransitionEntity).find({ where: { momentId: id }, order: { id: 'ASC' } });
  }

  async isReachable(): Promise<boolean> {
    try {
      await this.dataSource.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }
}
