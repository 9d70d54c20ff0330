import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storageFromConfig, type StorageRepository } from '@mcm/core';
import { startStack, type Stack } from '../../scripts/stack';
import { packAndInstallSdk } from '../sdk/pack-sdk';
import { startFakeElevenLabs, type FakeElevenLabs } from '../support/fake-elevenlabs';
import { createTestEnv, type TestEnv } from '../support/test-env';

type Sdk = typeof import('@main-character/sdk');

const ELEVENLABS_KEY = 'xi-e2e-delete-key-7c1d';
const ADMIN_TOKEN = 'e2e-delete-admin-token-0123';

async function until<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

/**
 * Deleting a moment whose vocal stage is running, on the whole stack as separate processes: the
 * stage's vocal render is held inside ElevenLabs text-to-speech (a local server speaking its API)
 * while the client deletes, then let go. The late stem it stores must not survive, and its
 * result must not bring the moment back.
 */
describe('deleting a moment while a stage runs, end to end', () => {
  let fake: FakeElevenLabs;
  let testEnv: TestEnv;
  let stack: Stack;
  let sdk: Sdk;
  let storage: StorageRepository;
  const logs: string[] = [];

  beforeAll(async () => {
    const installed = await packAndInstallSdk();
    sdk = installed.require('@main-character/sdk') as Sdk;
    fake = await startFakeElevenLabs(ELEVENLABS_KEY);
    // An hourly retention pass: the clean-up seen here is the stage runner's own, not the sweeper's.
    testEnv = await createTestEnv({
      ADMIN_TOKEN,
      ELEVENLABS_API_KEY: ELEVENLABS_KEY,
      ELEVENLABS_BASE_URL: fake.baseUrl,
      OUTBOUND_ALLOW_PRIVATE: 'true',
      SWEEP_INTERVAL_SECONDS: '3600',
      SWEEP_GRACE_SECONDS: '3600',
    });
    stack = await startStack({ env: testEnv.env, workers: 1, log: (app, line) => logs.push(`[${app}] ${line}`) });
    storage = storageFromConfig(testEnv.config);
  });

  afterAll(async () => {
    await stack?.stop();
    await fake?.close();
    storage?.destroy();
    await testEnv?.cleanup();
  });

  it('removes every object, including the stem stored after the delete, and the moment stays deleted', async () => {
    const client = new sdk.MomentsClient({ baseUrl: stack.apiUrl });
    const admin = new sdk.MomentsClient({ baseUrl: stack.apiUrl, adminToken: ADMIN_TOKEN });
    fake.behave('hold');
    const { id } = await client.createMoment(resolve(__dirname, '../fixtures/hum-phone.m4a'), { lyrics: 'I run at dawn and the city sings my name' });
    await until('the vocal stage to reach ElevenLabs', async () => fake.requests.some((request) => request.path.startsWith('/v1/text-to-speech/')));
    expect((await client.getMoment(id)).status).toBe('RENDERING');

    await client.deleteMoment(id);
    const gone = await client.getMoment(id).catch((error: unknown) => error);
    expect(gone).toBeInstanceOf(sdk.MomentsApiError);
    expect(gone).toMatchObject({ status: 410, code: 'MOMENT_DELETED' });

    fake.behave('ok');
    const lateResult = (job: Awaited<ReturnType<typeof admin.getJob>>) => {
      const deletedAt = job.history.findIndex((row) => row.event_type === 'DELETED');
      return deletedAt >= 0 && job.history.slice(deletedAt).find((row) => row.stage === 'render_vocals' && row.event_type.startsWith('STAGE_'));
    };
    const late = await until('the held vocal stage to report', async () => lateResult(await admin.getJob(id)));
    // Succeeded: the stage stored its stem after the delete.
    expect(late).toMatchObject({ event_type: 'STAGE_SUCCEEDED', applied: false, detail: 'the moment was deleted' });
    await until('the late stem to be removed', async () => (await storage.listKeys(`moments/${id}/`)).length === 0, 15_000);

    const job = await admin.getJob(id);
    expect(job).toMatchObject({ status: 'CANCELED', deleted_at: expect.any(String), original_audio_url: null, final_audio_url: null });
    expect(job.history.filter((row) => row.stage === 'mix')).toEqual([]);
    // Deleting again is safe for the SDK; the API itself answers 410.
    await expect(client.deleteMoment(id)).resolves.toBeUndefined();
    const again = await client.api.DELETE('/v1/moments/{id}', { params: { path: { id } } });
    expect(again.response.status).toBe(410);
    expect(logs.join('\n')).not.toContain(ELEVENLABS_KEY);
  });
});
