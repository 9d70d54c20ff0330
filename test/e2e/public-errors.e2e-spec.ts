import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisOptions, stageQueueName, storageFromConfig, type StorageRepository } from '@mcm/core';
import { PUBLIC_ERROR_MESSAGES } from '@mcm/pipeline';
import { startStack, stopApp, type Stack } from '../../scripts/stack';
import { packAndInstallSdk } from '../sdk/pack-sdk';
import { freePort } from '../support/free-port';
import { createTestEnv, type TestEnv } from '../support/test-env';

const HUM = resolve(__dirname, '../fixtures/hum-phone.m4a');
const ADMIN_TOKEN = 'e2e-public-errors-admin-token';

type Sdk = typeof import('@main-character/sdk');
type Moment = Awaited<ReturnType<InstanceType<Sdk['MomentsClient']>['getMoment']>>;

/**
 * A moment's error as a client sees it names a stable code and a sentence written for clients;
 * the raw cause (internal hosts, ffmpeg output, temp paths) is there for operators only.
 */
describe('failed moments: public errors for clients, the cause for operators', () => {
  let testEnv: TestEnv;
  let stack: Stack;
  let client: InstanceType<Sdk['MomentsClient']>;
  let admin: InstanceType<Sdk['MomentsClient']>;
  let storage: StorageRepository;
  let validateQueue: Queue;
  const logs: string[] = [];

  beforeAll(async () => {
    const [installed, env] = await Promise.all([packAndInstallSdk(), createTestEnv({ ADMIN_TOKEN })]);
    testEnv = env;
    const sdk = installed.require('@main-character/sdk') as Sdk;
    // No worker yet: each test starts the one it needs.
    stack = await startStack({ env: testEnv.env, workers: 0, log: (app, line) => logs.push(`[${app}] ${line}`) });
    client = new sdk.MomentsClient({ baseUrl: stack.apiUrl });
    admin = new sdk.MomentsClient({ baseUrl: stack.apiUrl, adminToken: ADMIN_TOKEN });
    storage = storageFromConfig(testEnv.config);
    validateQueue = new Queue(stageQueueName('validate'), { connection: redisOptions(testEnv.config.REDIS_URL), prefix: testEnv.config.QUEUE_PREFIX });
  });

  afterAll(async () => {
    await validateQueue?.close();
    await stack?.stop();
    storage?.destroy();
    await testEnv?.cleanup();
  });

  /** The moment as the API sends it to a client, read raw so nothing is hidden by the SDK's types. */
  const clientView = async (id: string) => {
    const response = await fetch(`${stack.apiUrl}/v1/moments/${id}`);
    expect(response.status).toBe(200);
    const text = await response.text();
    return { text, moment: JSON.parse(text) as Moment };
  };

  it('music-tools unreachable: the client sees no host, port or URL; the admin view has them', async () => {
    const closedPort = await freePort();
    const internal = `127.0.0.1:${closedPort}`;
    const worker = await stack.addWorker({ MCP_BASE_URL: `http://${internal}` });
    try {
      const { id } = await client.createMoment(HUM, { style: 'lofi' });
      // Every attempt is refused at once; the backoff delays the machine asks for are promoted rather than waited out.
      let moment = await client.getMoment(id);
      const deadline = Date.now() + 90_000;
      while (moment.status !== 'FAILED' && Date.now() < deadline) {
        for (const job of await validateQueue.getDelayed()) await job.promote().catch(() => undefined);
        await new Promise((settle) => setTimeout(settle, 100));
        moment = await client.getMoment(id);
      }
      expect(moment.status).toBe('FAILED');

      const { text, moment: seen } = await clientView(id);
      expect(seen.error).toEqual({ stage: 'validate', code: 'MCP_UNAVAILABLE', message: PUBLIC_ERROR_MESSAGES.MCP_UNAVAILABLE, retryable: true });
      expect(text).not.toContain(internal);
      expect(text).not.toMatch(/music-tools|ECONNREFUSED|fetch failed/i);
      expect(JSON.stringify(seen.error)).not.toMatch(/https?:|\d+\.\d+\.\d+\.\d+|:\d{2,5}\b/);
      // The compatibility route shows the same public error.
      const compat = await (await fetch(`${stack.apiUrl}/v1/status/${id}`)).text();
      expect(compat).not.toContain(internal);

      const job = await admin.getJob(id);
      expect(job.error).toEqual(seen.error);
      expect(job.error_detail).toContain(`music-tools at http://${internal} is unavailable`);
      expect(job.history.filter((row) => row.event_type === 'STAGE_FAILED').map((row) => row.detail)).toContain(`MCP_UNAVAILABLE: ${job.error_detail}`);
      const listed = (await admin.listJobs({ status: ['FAILED'] })).items.find((item) => item.id === id);
      expect(listed?.error_detail).toBe(job.error_detail);
    } finally {
      await stopApp(worker);
    }
  });

  it('ffmpeg fails: the client sees no temp path or ffmpeg output; the admin view has them', async () => {
    // The upload passes the api's checks; its stored original is damaged before any worker analyses it.
    const { id } = await client.createMoment(HUM, { style: 'anthem' });
    const [original] = await storage.listKeys(`moments/${id}/original`);
    await storage.putBuffer(original, randomBytes(20_000), 'audio/mp4');
    const worker = await stack.addWorker();
    try {
      const failed = await client.waitForMoment(id, { timeoutMs: 60_000, intervalMs: 100 }).catch((error: { moment?: Moment }) => error.moment);
      expect(failed?.status).toBe('FAILED');

      const { text, moment: seen } = await clientView(id);
      expect(seen.error).toEqual({ stage: 'analyze', code: 'AUDIO_UNDECODABLE', message: PUBLIC_ERROR_MESSAGES.AUDIO_UNDECODABLE, retryable: false });
      expect(text).not.toContain(tmpdir());
      expect(text).not.toMatch(/ffmpeg|mcm-analyze|Invalid data/i);

      const job = await admin.getJob(id);
      expect(job.error_detail).toContain('ffmpeg failed');
      expect(job.error_detail).toContain(join(tmpdir(), 'mcm-analyze-'));
    } finally {
      await stopApp(worker);
    }
  });
});
