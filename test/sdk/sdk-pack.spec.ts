import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cannedMoment, sendJson, sendProblem, startFakeApi, type FakeApi } from './fake-api';
import { packAndInstallSdk, type InstalledSdk } from './pack-sdk';

const run = promisify(execFile);
const TSC = path.resolve(__dirname, '../../node_modules/typescript/bin/tsc');
const moment = cannedMoment({ id: 'packed-1', status: 'COMPLETED', progress: 1, final_audio_url: 'http://storage.local/preview.mp3' });

/** The published tarball, installed into a fresh project, used the way a client app would. */
describe('the packed @main-character/sdk', () => {
  let sdk: InstalledSdk;
  let api: FakeApi;

  beforeAll(async () => {
    [sdk, api] = await Promise.all([
      packAndInstallSdk(),
      startFakeApi((req, res) => (req.url === `/v1/moments/${moment.id}` ? sendJson(res, 200, moment) : sendProblem(res, 404, 'MOMENT_NOT_FOUND', 'Not Found'))),
    ]);
  });

  afterAll(async () => {
    await api?.close();
  });

  it('ships the build, the OpenAPI document and the README, and nothing else', async () => {
    const { stdout } = await run('tar', ['-tzf', sdk.tarball]);
    const files = stdout
      .split('\n')
      .filter(Boolean)
      .map((f) => f.replace(/^package\//, ''))
      .sort();
    expect(files).toEqual(expect.arrayContaining(['README.md', 'dist/cli.js', 'dist/index.d.ts', 'dist/index.js', 'dist/schema.d.ts', 'openapi.json', 'package.json']));
    expect(files.filter((f) => !f.startsWith('dist/') && !['README.md', 'openapi.json', 'package.json'].includes(f))).toEqual([]);
  });

  it('works from CommonJS', async () => {
    const script = path.join(sdk.dir, 'check.cjs');
    await writeFile(
      script,
      `const { MomentsClient, MomentsApiError } = require('@main-character/sdk');
const client = new MomentsClient({ baseUrl: process.argv[2] });
(async () => {
  const moment = await client.getMoment('packed-1');
  const missing = await client.getMoment('nope').catch((e) => e);
  console.log(JSON.stringify({ moment, missing: missing instanceof MomentsApiError && missing.status }));
})();
`,
    );
    const { stdout } = await run(process.execPath, [script, api.baseUrl], { cwd: sdk.dir });
    expect(JSON.parse(stdout)).toEqual({ moment, missing: 404 });
  });

  it('works from ESM through Node’s CommonJS interop', async () => {
    const script = path.join(sdk.dir, 'check.mjs');
    await writeFile(
      script,
      `import { MomentsClient, MomentFailedError } from '@main-character/sdk';
import sdk from '@main-character/sdk';
const moment = await new MomentsClient({ baseUrl: process.argv[2] }).waitForMoment('packed-1');
console.log(JSON.stringify({ moment, sameClass: sdk.MomentsClient === MomentsClient, failedError: typeof MomentFailedError }));
`,
    );
    const { stdout } = await run(process.execPath, [script, api.baseUrl], { cwd: sdk.dir });
    expect(JSON.parse(stdout)).toEqual({ moment, sameClass: true, failedError: 'function' });
  });

  it('installs the mcm command, which reads a moment from the server it is given', async () => {
    const { stdout } = await run('npx', ['mcm', 'status', 'packed-1', '--json'], { cwd: sdk.dir, env: { ...process.env, MCM_BASE_URL: api.baseUrl } });
    expect(JSON.parse(stdout)).toEqual(moment);
  });

  it('loads through the require handed to the end-to-end tests', () => {
    const { MomentsClient } = sdk.require('@main-character/sdk') as typeof import('@main-character/sdk');
    expect(new MomentsClient({ baseUrl: api.baseUrl })).toHaveProperty('waitForMoment');
  });

  it.each(['node16', 'bundler', 'node10'])('type-checks a TypeScript consumer (moduleResolution %s, no Node typings)', async (resolution) => {
    const consumer = path.join(sdk.dir, `consumer-${resolution}.ts`);
    await writeFile(
      consumer,
      `import { MomentsClient, MomentsApiError, MomentFailedError, verifyWebhook, WebhookVerificationError, type RunResult, type Moment, type MomentStatus, type CreateMomentResponse, type Blueprint, type Problem, type paths, type components } from '@main-character/sdk';

const client = new MomentsClient({ baseUrl: 'http://localhost:3000', apiKey: 'k', headers: { 'X-App': 'demo' } });

export async function make(clip: Blob): Promise<string | null> {
  const blueprint: Blueprint = { id: 'b1', style: 'lofi', tempo_bpm: 90, key: 'Am', sections: [{ name: 'hook', bars: 4 }], lyrics: 'here I go', voice: { voice_id: 'v' } };
  const created: CreateMomentResponse = await client.createMoment(clip, { style: 'lofi', outputKind: 'preview', idempotencyKey: 'a', blueprint });
  const moment: Moment = await client.waitForMoment(created.id, { onProgress: (m) => m.progress.toFixed(2) });
  const status: MomentStatus = moment.status;
  if (status === 'COMPLETED') return moment.assets.preview ?? moment.final_audio_url;
  return null;
}

export function describeError(error: unknown): string {
  if (error instanceof MomentsApiError) return error.code + error.problem.title + error.status;
  if (error instanceof MomentFailedError) return error.error?.code ?? error.status;
  return '';
}

export const failed: MomentStatus = 'FAILED';
// @ts-expect-error not one of the seven statuses
export const bogus: MomentStatus = 'DONE';
export type GetMoment = paths['/v1/moments/{id}']['get'];
export type Schemas = keyof components['schemas'];
export const problem: Pick<Problem, 'status' | 'code'> = { status: 404, code: 'MOMENT_NOT_FOUND' };
export const page = client.listJobs({ status: ['FAILED'], limit: 5 }).then((p) => p.items.map((m) => m.id).concat(p.next_cursor ?? []));
export const raw = client.api.GET('/v1/moments/{id}', { params: { path: { id: 'x' } } });
export const removed: Promise<void> = client.deleteMoment('x');
export const ran: Promise<RunResult> = client.run(new Blob([]), { style: 'lofi', signal: AbortSignal.timeout(1000), onProgress: (m) => m.stage });
export const preview: Promise<number> = ran.then((r) => r.preview.byteLength);
export const patient = new MomentsClient({ baseUrl: 'http://localhost:3000', retry: { maxAttempts: 6, baseDelayMs: 250, maxDelayMs: 10_000 } });
export const event = verifyWebhook<{ type: string }>('{}', new Headers(), ['whsec_a', 'whsec_b']).type;
export const refused = (error: unknown): boolean => error instanceof WebhookVerificationError;
`,
    );
    const module = resolution === 'node16' ? 'node16' : resolution === 'bundler' ? 'esnext' : 'commonjs';
    const tsconfig = path.join(sdk.dir, `tsconfig.${resolution}.json`);
    await writeFile(
      tsconfig,
      JSON.stringify({
        compilerOptions: { strict: true, noEmit: true, target: 'ES2022', lib: ['ES2022', 'DOM'], types: [], module, moduleResolution: resolution, skipLibCheck: false },
        files: [path.basename(consumer)],
      }),
    );
    const result = await run(process.execPath, [TSC, '-p', tsconfig], { cwd: sdk.dir }).catch((error: { stdout: string }) => error);
    expect(result.stdout).toBe('');
  });
});
