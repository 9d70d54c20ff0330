import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Client } from 'pg';
import { StorageRepository, loadConfig, type AppConfig } from '@mcm/core';
import { ApiModule } from '../../apps/api/src/api.module';
import { configureApi } from '../../apps/api/src/http/server-setup';
import { createTestEnv, type TestEnv } from './test-env';

export interface InProcessApi {
  app: INestApplication<Server>;
  config: AppConfig;
  port: number;
  /** `http://127.0.0.1:<port>` */
  base: string;
}

/**
 * The api as its main sets it up (bucket included), in this process, on a free loopback port. Close it with `app.close()`.
 * `pageDirectory` is the built page it serves; by default dist/web when it was built.
 */
export async function startApi(env: NodeJS.ProcessEnv, pageDirectory?: string | null): Promise<InProcessApi> {
  const config = loadConfig(env);
  const app = await NestFactory.create<INestApplication<Server>>(ApiModule.forRoot(config), { logger: false });
  configureApi(app, config, pageDirectory);
  await app.get(StorageRepository).ensureBucket();
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, config, port, base: `http://127.0.0.1:${port}` };
}

export interface ApiWorld extends InProcessApi {
  testEnv: TestEnv;
  /** Connected to the world's database, to look at rows directly. */
  db: Client;
  /** Closes the client and the api, then removes the database, queues and storage. */
  close(): Promise<void>;
}

/** A test file's own database, queues and storage (see createTestEnv) with the api running on them. */
export async function startApiWorld(overrides: NodeJS.ProcessEnv = {}, pageDirectory?: string | null): Promise<ApiWorld> {
  const testEnv = await createTestEnv(overrides);
  let api: InProcessApi | undefined;
  const db = new Client({ connectionString: testEnv.config.DATABASE_URL });
  const close = async () => {
    await db.end().catch(() => undefined);
    await api?.app.close();
    await testEnv.cleanup();
  };
  try {
    api = await startApi(testEnv.env, pageDirectory);
    await db.connect();
  } catch (error) {
    await close();
    throw error;
  }
  return { ...api, testEnv, db, close };
}
