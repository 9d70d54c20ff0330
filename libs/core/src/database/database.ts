import { Client } from 'pg';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { MomentTransitionEntity } from './moment-transition.entity';
import { MomentEntity } from './moment.entity';
import { WebhookDeliveryEntity } from './webhook-delivery.entity';
import { CreateMoments1764000000000 } from './migrations/1764000000000-create-moments';
import { MomentsInFlightIndex1764100000000 } from './migrations/1764100000000-moments-in-flight-index';
import { MomentLifecycle1765000000000 } from './migrations/1765000000000-moment-lifecycle';
import { TransitionProgress1766000000000 } from './migrations/1766000000000-transition-progress';
import { WebhookDeliveries1767000000000 } from './migrations/1767000000000-webhook-deliveries';
import { TransitionPointBackfill1768000000000 } from './migrations/1768000000000-transition-point-backfill';

export const ENTITIES = [MomentEntity, MomentTransitionEntity, WebhookDeliveryEntity];
export const MIGRATIONS = [
  CreateMoments1764000000000,
  MomentsInFlightIndex1764100000000,
  MomentLifecycle1765000000000,
  TransitionProgress1766000000000,
  WebhookDeliveries1767000000000,
  TransitionPointBackfill1768000000000,
];

export function dataSourceOptions(databaseUrl: string): DataSourceOptions {
  return {
    type: 'postgres',
    url: databaseUrl,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    synchronize: false,
    migrationsRun: false,
    logging: false,
    extra: { max: 10, connectionTimeoutMillis: 5_000 },
  };
}

/** Creates the configured database when it does not exist yet (local runs and tests). */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) return;
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) {
      await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`).catch((error: { code?: string }) => {
        // Another process created it first.
        if (error.code !== '42P04') throw error;
      });
    }
  } finally {
    await client.end();
  }
}

const MIGRATION_LOCK = 0x6d636d; // any constant shared by every process of the stack

/** Runs pending migrations once, even when several processes start together. */
export async function migrate(databaseUrl: string): Promise<void> {
  await ensureDatabase(databaseUrl);
  const lock = new Client({ connectionString: databaseUrl });
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const dataSource = new DataSource(dataSourceOptions(databaseUrl));
    await dataSource.initialize();
    try {
      await dataSource.runMigrations({ transaction: 'each' });
    } finally {
      await dataSource.destroy();
    }
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await lock.end();
  }
}
