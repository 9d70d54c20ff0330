import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import DataLoader from 'dataloader';
import type { Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';
import { DataSource, type EntityManager } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { TERMINAL_STATUSES, type MomentStatus, type Stage } from '@mcm/pipeline';
import { MomentEntity } from '../database/moment.entity';
import { MomentTransitionEntity } from '../database/moment-transition.entity';
import { WebhookDeliveriesRepository } from '../webhooks/webhook-deliveries.repository';
import { WEBHOOK_EVENT_TYPES, subscribedEvent, webhookDeliveryId, type MomentPosition, type WebhookEvent } from '../webhooks/webhook-events';
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

/** The columns of a history row and their types, in the order `historyStatement` gives their values. */
const HISTORY_COLUMNS = [
  ['moment_id', 'uuid'],
  ['event_type', 'varchar'],
  ['stage', 'varchar'],
  ['from_state', 'text'],
  ['to_state', 'text'],
  ['applied', 'boolean'],
  ['detail', 'text'],
  ['status', 'varchar'],
  ['moment_stage', 'varchar'],
  ['progress', 'real'],
] as const;

type HistoryInsert = MomentHistoryRow & Pick<MomentTransitionEntity, 'status' | 'momentStage' | 'progress'>;

/**
 * One statement that writes a change, so one round trip. `row` is the moment's part (its parameters
 * come first): an INSERT, an UPDATE or a locking SELECT of the moment answering `updated_at` and the
 * row's version; the history rows and the change feed's notice naming the last of them are written
 * only if it answers a row, and Postgres sends the notice only if the transaction commits. It answers
 * the last history row's id as `seq`, `updated_at` and the version; no row when `row` found none.
 */
function historyStatement(momentId: string, rows: HistoryInsert[], row: [string, unknown[]]): [string, unknown[]] {
  const parameters = [...row[1], MOMENT_CHANGED_CHANNEL, momentId];
  const [channel, id] = [parameters.length - 1, parameters.length];
  const values = rows.map((history) => {
    parameters.push(history.eventType, history.stage, history.fromState, history.toState, history.applied, history.detail, history.status, history.momentStage, history.progress);
    const at = parameters.length - 8;
    const placeholders = HISTORY_COLUMNS.map(([, type], i) => `${i ? `$${at + i - 1}` : `$${id}`}::${type}`);
    return `(${placeholders.join(', ')})`;
  });
  const columns = HISTORY_COLUMNS.map(([name]) => name).join(', ');
  const sql = `WITH written AS (${row[0]}), added AS (
      INSERT INTO moment_transitions (${columns}) SELECT history.* FROM written, (VALUES ${values.join(', ')}) AS history (${columns}) RETURNING id
    ), last AS (SELECT max(id) AS seq FROM added)
    SELECT last.seq, written.updated_at, written.row_version, pg_notify($${channel}, $${id} || ':' || last.seq) FROM last, written WHERE last.seq IS NOT NULL`;
  return [sql, parameters];
}

/** Where a statement runs: the pool (a connection of its own) or the connection of a transaction. */
type Queryable = Pick<Pool, 'query'> | PoolClient;

/** What `historyStatement` answers. */
interface Written {
  seq: string;
  updated_at: Date;
  row_version: string;
}

/** A moment's row as a commit left it, and its version then (Postgres' `xmin`): what a change can start from without reading the row again. */
export interface KnownMoment {
  moment: MomentEntity;
  version: string;
}

/** What a change leaves: the row as committed and its version, the decision's result, and the webhook deliveries it wrote. */
export interface ChangeOutcome<T> extends KnownMoment {
  result: T;
  webhooks: string[];
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
  private built?: { read: string; columns: Map<string, ColumnMetadata> };
  /** The name each prepared statement has on every connection, by its text. */
  private readonly statementNames = new Map<string, string>();

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
  async insert(moment: MomentEntity, transition: MomentHistoryRow, options: InsertOptions = {}): Promise<KnownMoment> {
    try {
      if (options.maxInFlight && moment.owner) {
        return await this.dataSource.transaction(async (manager) => {
          await this.claimInFlightSlot(manager, moment, options.maxInFlight!);
          return this.insertWithHistory(manager, moment, transition);
        });
      }
      return await this.insertWithHistory(this.dataSource.manager, moment, transition);
    } catch (error) {
      if ((error as { code?: string }).code === '23505' && moment.idempotencyKey) {
        const existing = await this.findByIdempotencyKey(moment.idempotencyKey, moment.owner);
        if (existing) throw new IdempotencyConflict(existing);
      }
      throw error;
    }
  }

  /** The row, its first history row and the notice in one statement; reads back what Postgres fills in (updated_at) and the row's version. */
  private async insertWithHistory(manager: EntityManager, moment: MomentEntity, transition: MomentHistoryRow): Promise<KnownMoment> {
    const [sql, parameters] = manager
      .createQueryBuilder()
      .insert()
      .into(MomentEntity)
      .values(moment as QueryDeepPartialEntity<MomentEntity>)
      .returning('"updated_at", "xmin"::text AS "row_version"')
      .getQueryAndParameters();
    const [written] = await manager.query<Written[]>(...historyStatement(moment.id, [{ ...transition, ...pointOf(moment) }], [sql, parameters]));
    moment.updatedAt = written.updated_at;
    return { moment, version: written.row_version };
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
   * Applies a decision about a moment: `decide` (pure: it reads the row and changes nothing) says
   * what to write, and the changed columns, the history rows and the change feed's notice are
   * written together, so events for one moment apply one at a time, each to the row as the last
   * one left it. A change that is an event the moment's webhook subscribes to writes its delivery
   * in the same transaction (the outbox); `webhooks` names the deliveries written, for the caller
   * to enqueue after commit. Null for an unknown moment.
   *
   * The decision is made on `known` (a row passed along from an earlier change) or on the row as
   * last committed, and written in one statement that locks the row and writes only if its version
   * is still the one decided on. When it has moved since (a concurrent change), or the change has a
   * webhook delivery to write, the decision is made again in a transaction holding the row's lock;
   * a row passed along that has moved is first read once more and decided on again. A decision to
   * write nothing stands only on a row just read.
   */
  async change<T>(id: string, decide: (moment: Readonly<MomentEntity>) => MomentChange<T>, known?: KnownMoment): Promise<ChangeOutcome<T> | null> {
    let outcome: ChangeOutcome<T> | 'moved' | 'lock' = 'moved';
    if (known) outcome = await this.changeAt(id, decide, known, false);
    if (outcome === 'moved') {
      const current = await this.read(id);
      if (!current) return null;
      outcome = await this.changeAt(id, decide, current, true);
    }
    return typeof outcome === 'string' ? this.changeLocked(id, decide) : outcome;
  }

  /**
   * The decision on `start`, written if the row is still at its version: 'moved' when it is not, or when the decision
   * writes nothing and `start` was not just read; 'lock' when the change must be written in a locked transaction.
   */
  private async changeAt<T>(id: string, decide: (moment: Readonly<MomentEntity>) => MomentChange<T>, start: KnownMoment, justRead: boolean): Promise<ChangeOutcome<T> | 'moved' | 'lock'> {
    const moment = Object.assign(new MomentEntity(), start.moment);
    const decision = decide(moment);
    if (!decision.history.length) {
      if (decision.changes) return 'lock';
      return justRead ? { moment, version: start.version, result: decision.result, webhooks: [] } : 'moved';
    }
    if (this.webhookEvent(moment, { ...moment, ...decision.changes })) return 'lock';
    const written = await this.write(this.pool(), id, moment, decision, start.version);
    return written ? { moment, version: written.row_version, result: decision.result, webhooks: [] } : 'moved';
  }

  /** `change` in a transaction that starts with the row locked, for what may not be written on a version read earlier. */
  private changeLocked<T>(id: string, decide: (moment: Readonly<MomentEntity>) => MomentChange<T>): Promise<ChangeOutcome<T> | null> {
    return this.lockedTransaction(id, async (locked, client, manager) => {
      if (!locked) return null;
      const moment = Object.assign(new MomentEntity(), locked.moment);
      const decision = decide(moment);
      const event = this.webhookEvent(moment, { ...moment, ...decision.changes });
      const written = await this.write(client, id, moment, decision);
      const delivery = event && written?.seq ? await this.addWebhookDelivery(manager, moment, event, written.seq) : null;
      return { moment, version: written?.row_version ?? locked.version, result: decision.result, webhooks: delivery ? [delivery] : [] };
    });
  }

  /**
   * Writes `decision` about `moment` in one statement, and updates `moment` in place to the row as
   * written: the row is the truth until commit, never read again. With `version`, only if the row
   * is still at that version (locking it); null when it has moved, or when there was nothing to write.
   */
  private async write<T>(on: Queryable, id: string, moment: MomentEntity, decision: MomentChange<T>, version?: string): Promise<Written | null> {
    const changes = decision.changes && this.changedColumns(moment, decision.changes);
    let written: Written | undefined;
    if (decision.history.length) {
      const next = { ...moment, ...changes };
      const row: [string, unknown[]] = changes ? this.updateStatement(id, changes, version) : this.lockStatement(id, version);
      [written] = await this.prepared<Written>(
        on,
        historyStatement(
          id,
          decision.history.map((history) => ({ ...history, ...pointOf(next) })),
          row,
        ),
      );
    } else if (changes) {
      [written] = await this.prepared<Written>(on, this.updateStatement(id, changes, version));
    }
    if (!written) return null;
    Object.assign(moment, changes, { updatedAt: written.updated_at });
    return written;
  }

  /** The row as last committed, and its version; null when there is none. */
  private async read(id: string): Promise<KnownMoment | null> {
    const [row] = await this.prepared<Record<string, unknown>>(this.pool(), [this.statements().read, [id]]);
    return row ? this.known(row) : null;
  }

  /** The pool TypeORM connects through, for the statements this repository prepares itself. */
  private pool(): Pool {
    return (this.dataSource.driver as PostgresDriver).master as Pool;
  }

  /**
   * One of this repository's statements, run as a named prepared statement: each connection parses and
   * plans a statement once, not at every change (a change's statement is as costly to plan as to run).
   * Its shapes are few (one per set of changed columns and number of history rows).
   */
  private async prepared<R>(on: Queryable, [text, values]: [string, unknown[]]): Promise<R[]> {
    let name = this.statementNames.get(text);
    if (!name) this.statementNames.set(text, (name = `mcm_moment_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`));
    return (await on.query<R & QueryResultRow>({ name, text, values })).rows;
  }

  /**
   * A transaction that starts with the moment's row locked: `BEGIN` and the locked read go to Postgres as one
   * message (the simple protocol, the id a quoted literal; it takes no parameters). `work` writes through
   * `client` or `manager`, the same connection; its return commits, its throw rolls back.
   */
  private async lockedTransaction<R>(id: string, work: (row: KnownMoment | null, client: PoolClient, manager: EntityManager) => Promise<R>): Promise<R> {
    if (!MOMENT_ID.test(id)) throw new Error(`not a moment id: ${JSON.stringify(id)}`);
    const runner = this.dataSource.createQueryRunner('master');
    try {
      const client = (await runner.connect()) as PoolClient;
      try {
        const results = (await client.query(`BEGIN; ${this.statements().read.replace('$1', client.escapeLiteral(id))} FOR UPDATE`)) as unknown as QueryResult<Record<string, unknown>>[];
        const row = results[1].rows[0];
        const outcome = await work(row ? this.known(row) : null, client, runner.manager);
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

  /** A row as `statements().read` answers it: the entity's columns, and its version apart. */
  private known(row: Record<string, unknown>): KnownMoment {
    const { row_version: version, ...columns } = row;
    return { moment: Object.assign(new MomentEntity(), columns), version: version as string };
  }

  /** The row's read, built once from the entity's columns: Postgres' own types (jsonb, timestamptz, real) arrive as the entity's. */
  private statements(): { read: string; columns: Map<string, ColumnMetadata> } {
    if (!this.built) {
      const { columns } = this.dataSource.getMetadata(MomentEntity);
      this.built = {
        read: `SELECT "xmin"::text AS "row_version", ${columns.map((column) => `"${column.databaseName}" AS "${column.propertyName}"`).join(', ')} FROM moments WHERE id = $1`,
        columns: new Map(columns.map((column) => [column.propertyName, column])),
      };
    }
    return this.built;
  }

  /** The columns of `changes` whose values differ from the row's: what an UPDATE needs to send. Undefined when none do. */
  private changedColumns(moment: MomentEntity, changes: Partial<MomentEntity>): Partial<MomentEntity> | undefined {
    const changed = Object.entries(changes).filter(([property, value]) => value !== undefined && !isDeepStrictEqual(moment[property as keyof MomentEntity], value));
    return changed.length ? Object.fromEntries(changed) : undefined;
  }

  /** The version condition on a row's statement: none in a transaction already holding its lock. */
  private guarded(parameters: unknown[], version: string | undefined): string {
    if (version === undefined) return '';
    parameters.push(version);
    return ` AND xmin = $${parameters.length}::xid`;
  }

  /** An UPDATE of `changes` (values prepared as TypeORM saves them) that answers the new `updated_at` and version. */
  private updateStatement(id: string, changes: Partial<MomentEntity>, version?: string): [string, unknown[]] {
    const { columns } = this.statements();
    const parameters: unknown[] = [];
    const assignments = Object.entries(changes).map(([property, value]) => {
      const column = columns.get(property);
      if (!column) throw new Error(`moments has no column for ${property}`);
      parameters.push(this.dataSource.driver.preparePersistentValue(value, column));
      return `"${column.databaseName}" = $${parameters.length}`;
    });
    parameters.push(id);
    const where = `id = $${parameters.length}${this.guarded(parameters, version)}`;
    return [`UPDATE moments SET ${[...assignments, 'updated_at = CURRENT_TIMESTAMP'].join(', ')} WHERE ${where} RETURNING updated_at, xmin::text AS row_version`, parameters];
  }

  /** The row's `updated_at` and version, for a change that writes only history; with `version`, locked if still at it. */
  private lockStatement(id: string, version?: string): [string, unknown[]] {
    const parameters: unknown[] = [id];
    const guard = this.guarded(parameters, version);
    return [`SELECT updated_at, xmin::text AS row_version FROM moments WHERE id = $1${guard}${guard ? ' FOR UPDATE' : ''}`, parameters];
  }

  /** The webhook event the change from `moment` to `next` is, when the moment's webhook subscribes to it. */
  private webhookEvent(moment: MomentEntity, next: MomentPosition): WebhookEvent | null {
    return moment.webhookUrl ? subscribedEvent(moment.webhookEvents, moment, next) : null;
  }

  /** The outbox row of `event`, caused by history row `seq` and leaving `moment` as it is now; its id when written. */
  private async addWebhookDelivery(manager: EntityManager, moment: MomentEntity, event: WebhookEvent, seq: string): Promise<string | null> {
    const id = webhookDeliveryId(moment.id, seq);
    const written = await this.webhooks.add(manager, {
      id,
      momentId: moment.id,
      seq,
      eventType: WEBHOOK_EVENT_TYPES[event],
      url: moment.webhookUrl!,
      point: { status: moment.status, stage: moment.stage, progress: moment.progress, at: new Date().toISOString() },
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
