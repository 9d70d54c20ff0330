import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, type CliProcess } from '../../libs/sdk/src/cli/program';
import { cannedMoment, sendJson, sendProblem, startFakeApi, type FakeApi } from './fake-api';

/** A process for the CLI to run in: captured output, a terminal or a pipe on stderr. */
function fakeProcess(tty: boolean) {
  const output = { stdout: '', stderr: '' };
  const proc: CliProcess = {
    env: {},
    stdout: { write: (text: string) => (output.stdout += text) },
    stderr: { write: (text: string) => (output.stderr += text), isTTY: tty, columns: 100 },
    once: () => undefined,
    off: () => undefined,
  };
  return { proc, output };
}

const STEPS = [
  { status: 'PENDING', stage: null, progress: 0 },
  { status: 'ANALYZING', stage: 'analyze', progress: 0.1 },
  { status: 'RENDERING', stage: 'render_vocals', progress: 0.55 },
  { status: 'MIXING', stage: 'mix', progress: 0.9 },
];

describe('mcm create', () => {
  let api: FakeApi;
  let tmp: string;
  let clip: string;
  let ending: Record<string, unknown>;
  const preview = Buffer.from('ID3 a preview');

  beforeEach(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'mcm-cli-'));
    clip = path.join(tmp, 'clip.m4a');
    await writeFile(clip, Buffer.alloc(1024, 1));
    ending = { status: 'COMPLETED', stage: null, progress: 1 };
    api = await startFakeApi((req, res) => {
      if (req.method === 'POST') return sendJson(res, 202, { job_id: 'm1', id: 'm1', status: 'PENDING', status_url: '/v1/moments/m1' });
      if (req.url === '/v1/moments/m1/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const steps = [...STEPS, ending].map((step) => cannedMoment({ id: 'm1', ...step, assets: { preview: `${api.baseUrl}/bucket/preview.mp3` } }));
        steps.forEach((step, i) =>
          res.write(`id: ${i + 1}\nevent: ${step.status === ending.status ? `moment.${String(step.status).toLowerCase()}` : 'moment.progress'}\ndata: ${JSON.stringify(step)}\n\n`),
        );
        res.end();
        return;
      }
      if (req.url === '/bucket/preview.mp3') {
        res.writeHead(200, { 'content-type': 'audio/mpeg' }).end(preview);
        return;
      }
      sendProblem(res, 404, 'NOT_FOUND', 'Not Found');
    });
  });

  afterEach(async () => {
    await api.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('on a terminal, redraws one progress line with the stage, then saves the preview', async () => {
    const { proc, output } = fakeProcess(true);
    const out = path.join(tmp, 'song.mp3');
    const code = await runCli(['--base-url', api.baseUrl, 'create', clip, '--style', 'lofi', '--out', out], proc);

    expect(code).toBe(0);
    expect(await readFile(out)).toEqual(preview);
    expect(output.stdout).toBe(`saved ${out} (0 KiB) from moment m1\n`);
    const [uploading, bar, ...rest] = output.stderr.split('\n');
    expect(uploading).toBe(`uploading ${clip}`);
    expect(rest).toEqual(['']);
    // Every update redraws the same line; the last one shows the whole bar.
    const frames = bar.split('\r\x1b[2K').filter(Boolean);
    expect(frames).toHaveLength(5);
    expect(frames[2]).toMatch(/^█{13}░{11} {2}55% {2}RENDERING · render_vocals$/);
    expect(frames.at(-1)).toMatch(/^█{24} 100% {2}COMPLETED$/);
    const form = api.requests.find((r) => r.method === 'POST')!;
    expect(form.headers['idempotency-key']).toBeTruthy();
    expect(form.body.toString()).toContain('lofi');
  });

  it('in a pipe, writes one plain line per change; a failed moment exits 1 with its error as JSON', async () => {
    ending = { status: 'FAILED', stage: 'mix', progress: 0.9, error: { stage: 'mix', code: 'MIX_FAILED', message: 'The mix could not be made.', retryable: true } };
    const { proc, output } = fakeProcess(false);
    const code = await runCli(['create', clip, '--json', '--base-url', api.baseUrl], proc);

    expect(code).toBe(1);
    expect(output.stderr.split('\n')).toEqual([
      '  0%  PENDING',
      ' 10%  ANALYZING · analyze',
      ' 55%  RENDERING · render_vocals',
      ' 90%  MIXING · mix',
      ' 90%  FAILED · mix',
      'Moment m1 failed at mix: MIX_FAILED: The mix could not be made.',
      '',
    ]);
    expect(JSON.parse(output.stdout)).toMatchObject({ id: 'm1', status: 'FAILED', error: { code: 'MIX_FAILED' } });
    await expect(readFile(path.join(tmp, 'clip-theme.mp3'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
