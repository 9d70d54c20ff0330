import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { measureLoudness, probeAudio } from '@mcm/audio';
import { blueprintDurationSeconds, type Blueprint } from '@mcm/pipeline';
import { startStack, type Stack } from '../../scripts/stack';
import { packAndInstallSdk } from '../sdk/pack-sdk';
import { startFakeElevenLabs, type FakeElevenLabs } from '../support/fake-elevenlabs';
import { createTestEnv, type TestEnv } from '../support/test-env';

type Sdk = typeof import('@main-character/sdk');

const API_KEY = 'xi-e2e-key-5f2c9a';

/**
 * With an ElevenLabs key, a song's instrumental is composed by ElevenLabs music and the lyrics
 * are spoken by its text-to-speech; here a local server speaks ElevenLabs' documented API.
 */
describe('a song with ElevenLabs, end to end', () => {
  let fake: FakeElevenLabs;
  let testEnv: TestEnv;
  let stack: Stack;
  let sdk: Sdk;
  let workdir: string;
  const logs: string[] = [];

  beforeAll(async () => {
    const installed = await packAndInstallSdk();
    sdk = installed.require('@main-character/sdk') as Sdk;
    fake = await startFakeElevenLabs(API_KEY);
    // The fake listens on 127.0.0.1, which the outbound guard refuses unless told otherwise.
    testEnv = await createTestEnv({ ELEVENLABS_API_KEY: API_KEY, ELEVENLABS_BASE_URL: fake.baseUrl, OUTBOUND_ALLOW_PRIVATE: 'true' });
    stack = await startStack({ env: testEnv.env, workers: 1, log: (app, line) => logs.push(`[${app}] ${line}`) });
    workdir = await mkdtemp(join(tmpdir(), 'mcm-e2e-eleven-'));
  });

  afterAll(async () => {
    await stack?.stop();
    await fake?.close();
    await testEnv?.cleanup();
    if (workdir) await rm(workdir, { recursive: true, force: true });
  });

  it('renders a song through ElevenLabs music and text-to-speech', async () => {
    const client = new sdk.MomentsClient({ baseUrl: stack.apiUrl });
    const created = await client.createMoment(resolve(__dirname, '../fixtures/hum-phone.m4a'), {
      outputKind: 'song',
      style: 'anthem',
      lyrics: 'I run at dawn and the city sings my name',
    });
    const moment = await client.waitForMoment(created.id, { timeoutMs: 120_000 });
    expect(moment.status).toBe('COMPLETED');

    const music = fake.requests.filter((request) => request.path === '/v1/music');
    const speech = fake.requests.filter((request) => request.path.startsWith('/v1/text-to-speech/'));
    expect(music.length).toBeGreaterThanOrEqual(1);
    expect(speech.length).toBeGreaterThanOrEqual(1);
    for (const request of [...music, ...speech]) expect(request.headers['xi-api-key']).toBe(API_KEY);
    expect((speech[0].body as { text: string }).text).toContain('city sings my name');

    const blueprint = moment.blueprint_json as unknown as Blueprint;
    const seconds = blueprintDurationSeconds(blueprint);
    expect(seconds).toBeGreaterThanOrEqual(60);
    expect(seconds).toBeLessThanOrEqual(90);
    const plan = (music[0].body as { composition_plan: { sections: { duration_ms: number }[] } }).composition_plan;
    expect(plan.sections.length).toBeGreaterThan(0);

    const preview = join(workdir, 'song.mp3');
    await client.download(moment.final_audio_url!, preview);
    expect(Math.abs((await probeAudio(preview, { format: 'mp3' })).duration_s - seconds)).toBeLessThan(0.1);
    const loudness = await measureLoudness(preview, 'mp3');
    expect(Math.abs(loudness.integrated_lufs + 14)).toBeLessThanOrEqual(1);
    expect(loudness.true_peak_dbtp).toBeLessThanOrEqual(-1);
    expect(logs.join('\n')).not.toContain(API_KEY);
  });

  it('warns at start-up of every app that private outbound addresses are allowed', () => {
    for (const app of ['api', 'worker-1', 'music-tools']) {
      expect(
        logs.some((line) => line.startsWith(`[${app}]`) && line.includes('OUTBOUND_ALLOW_PRIVATE=true')),
        app,
      ).toBe(true);
    }
  });
});
