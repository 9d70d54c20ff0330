import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import fc from 'fast-check';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storageFromConfig, type StorageRepository } from '@mcm/core';
import { validateBlueprint } from '@mcm/pipeline';
import { startStack, type Stack } from '../../scripts/stack';
import { FUZZ_BLUEPRINT, hostileBlueprint, hostileFile, makeSeeds, type HostileBlueprint, type HostileFile, type Refusables, type Seeds } from '../support/hostile-inputs';
import { createTestEnv, type TestEnv } from '../support/test-env';

/**
 * The hostile-input fuzz run: mutated recordings, playlists, scripts, lying headers and broken or
 * enormous blueprints, sent through the api and through music-tools' MCP tools as separate
 * processes. Every variant is answered with a 4xx or `isError`, or accepted when the mutation left
 * a valid recording; never a 5xx, a protocol-level internal error or a crash. Nothing is left
 * behind: no row, no object and no temporary file beyond the accepted moments, and the api's
 * memory stays bounded. The seed is fixed so a failure replays; FUZZ_SEED picks another.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20261129);
const MCP_TOKEN = 'fuzz-music-tools-token-0123456789';
const RUNS = { uploads: 200, blueprints: 50, validate: 60, synthesize: 30, stems: 40 };
/** The MCP client library itself overflows its stack serialising much deeper arguments, before anything is sent. */
const MCP_DEPTH = { maxDepth: 1500 };
/** Headroom over the api's resting memory for the whole run. */
const MAX_RSS_GROWTH_MB = 200;

interface Tally {
  [kind: string]: { refused: number; accepted: number };
}

function count(tally: Tally, kind: string, refused: boolean): void {
  const family = kind.replace(/\s*\(.*\)$/, '').replace(/\d+/g, 'N');
  tally[family] ??= { refused: 0, accepted: 0 };
  tally[family][refused ? 'refused' : 'accepted'] += 1;
}

function rssMb(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then((status) => Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
}

/** The oracle: JSON that parses and passes the published schema; nesting too deep to check counts as invalid. */
function isValid({ json, tooDeep }: HostileBlueprint): boolean {
  if (tooDeep) return false;
  try {
    return validateBlueprint(JSON.parse(json)).ok;
  } catch {
    return false;
  }
}

interface Answer {
  status: number;
  body: { code?: unknown; id?: unknown; type?: unknown };
}

async function upload(apiUrl: string, file: { data: Buffer; filename: string }, fields: Record<string, string> = {}): Promise<Answer> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(file.data)]), file.filename);
  for (const [name, value] of Object.entries(fields)) form.set(name, value);
  const response = await fetch(`${apiUrl}/v1/moments`, { method: 'POST', body: form });
  const text = await response.text();
  let body: Answer['body'];
  try {
    body = JSON.parse(text) as Answer['body'];
  } catch {
    body = { type: `unparsable: ${text.slice(0, 80)}` };
  }
  return { status: response.status, body };
}

/** An MCP call's outcome: a tool error, a refusal by the protocol (bad params), or success. */
async function callTool(client: McpClient, name: string, args: Record<string, unknown>): Promise<'isError' | 'refused' | 'ok'> {
  try {
    const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
    return result.isError ? 'isError' : 'ok';
  } catch (error) {
    // Invalid params or request are refusals; an internal error (-32603) is a defect.
    if (error instanceof McpError && (error.code === -32602 || error.code === -32600)) return 'refused';
    throw error;
  }
}

describe('hostile input, fuzzed', () => {
  let testEnv: TestEnv;
  let stack: Stack;
  let storage: StorageRepository;
  let db: Client;
  let mcp: McpClient;
  let workRoot: string;
  let seeds: Seeds;
  let refusables: Refusables;
  let apiPid: number;
  let restingRss = 0;
  let peakRss = 0;
  let sampler: NodeJS.Timeout | undefined;
  const accepted = new Set<string>();
  const logs: string[] = [];

  beforeAll(async () => {
    // The apps' own temp root, so the run can prove none of their work files outlive a request.
    workRoot = await mkdtemp(join(tmpdir(), 'mcm-fuzz-tmp-'));
    [testEnv, { seeds, refusables }] = await Promise.all([createTestEnv({ TMPDIR: workRoot, MCP_AUTH_TOKEN: MCP_TOKEN, MAX_UPLOAD_MB: '2' }), makeSeeds()]);
    // No workers: accepted moments stay PENDING, so what storage holds is exactly what the api wrote.
    stack = await startStack({ env: testEnv.env, workers: 0, log: (app, line) => logs.push(`[${app}] ${line}`) });
    storage = storageFromConfig(testEnv.config);
    db = new Client({ connectionString: testEnv.config.DATABASE_URL });
    await db.connect();
    mcp = new McpClient({ name: 'fuzz', version: '1.0.0' });
    await mcp.connect(new StreamableHTTPClientTransport(new URL(`${stack.mcpUrl}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${MCP_TOKEN}` } } }));
    apiPid = stack.apps.find((app) => app.kind === 'api')!.child.pid!;
    restingRss = await rssMb(apiPid);
    peakRss = restingRss;
    sampler = setInterval(() => {
      void rssMb(apiPid).then(
        (mb) => (peakRss = Math.max(peakRss, mb)),
        () => undefined,
      );
    }, 100);
  }, 180_000);

  afterAll(async () => {
    if (sampler) clearInterval(sampler);
    await mcp?.close();
    await db?.end();
    await stack?.stop();
    storage?.destroy();
    await testEnv?.cleanup();
    if (workRoot) await rm(workRoot, { recursive: true, force: true });
  });

  it('refuses hostile uploads through the api', async () => {
    const tally: Tally = {};
    await fc.assert(
      fc.asyncProperty(hostileFile(seeds, refusables), async (variant: HostileFile) => {
        const answer = await upload(stack.apiUrl, variant);
        if (answer.status === 202) accepted.add(String(answer.body.id));
        expect(answer.status, `${variant.kind}: ${JSON.stringify(answer.body)}`).toBeLessThan(500);
        if (answer.status === 202) {
          expect(variant.mustRefuse, `${variant.kind} was accepted`).toBe(false);
        } else {
          expect(answer.status).toBeGreaterThanOrEqual(400);
          expect(answer.body.code, variant.kind).toEqual(expect.stringMatching(/^[A-Z_]+$/));
        }
        count(tally, variant.kind, answer.status !== 202);
      }),
      { numRuns: RUNS.uploads, seed: SEED, endOnFailure: true },
    );
    console.table(tally);
    const refused = Object.values(tally).reduce((sum, row) => sum + row.refused, 0);
    expect(refused + accepted.size).toBe(RUNS.uploads);
  });

  it('refuses broken and enormous blueprints through the api', async () => {
    const tally: Tally = {};
    await fc.assert(
      fc.asyncProperty(hostileBlueprint(), async (variant) => {
        const answer = await upload(stack.apiUrl, { data: seeds.wav, filename: 'take.wav' }, { blueprint_json: variant.json });
        if (answer.status === 202) accepted.add(String(answer.body.id));
        const schemaValid = isValid(variant);
        const label = `${variant.kind}: ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`;
        if (!schemaValid) expect([413, 422], label).toContain(answer.status);
        else if (variant.huge) expect(answer, label).toMatchObject({ status: 422, body: { code: 'BLUEPRINT_TOO_LONG' } });
        else expect(answer.status, label).toBe(202);
        count(tally, variant.kind, answer.status !== 202);
      }),
      { numRuns: RUNS.blueprints, seed: SEED, endOnFailure: true },
    );
    console.table(tally);
  });

  it('answers every hostile blueprint with isError through the MCP tools', async () => {
    const tally: Tally = {};
    const asArgument = (json: string): unknown => {
      try {
        return JSON.parse(json);
      } catch {
        return json;
      }
    };
    await fc.assert(
      fc.asyncProperty(hostileBlueprint(MCP_DEPTH), async (variant) => {
        const blueprint = asArgument(variant.json);
        const valid = isValid(variant);
        const outcome = await callTool(mcp, 'validate_blueprint', { blueprint });
        expect(outcome, variant.kind).toBe(valid ? 'ok' : outcome === 'refused' ? 'refused' : 'isError');
        count(tally, `validate: ${variant.kind}`, outcome !== 'ok');
      }),
      { numRuns: RUNS.validate, seed: SEED, endOnFailure: true },
    );
    // Rendering is only asked of blueprints that are broken or far too long: each must be refused before any work.
    const refusable = hostileBlueprint(MCP_DEPTH).filter((variant) => variant.huge || !isValid(variant));
    await fc.assert(
      fc.asyncProperty(refusable, async (variant) => {
        const outcome = await callTool(mcp, 'synthesize_preview', { blueprint: asArgument(variant.json) });
        expect(outcome, variant.kind).not.toBe('ok');
        count(tally, `synthesize: ${variant.kind}`, true);
      }),
      { numRuns: RUNS.synthesize, seed: SEED, endOnFailure: true },
    );
    console.table(tally);
  });

  it('answers hostile stems and foreign URLs with isError through synthesize_preview', async () => {
    const tally: Tally = {};
    const stemPrefix = `moments/${randomUUID()}/`;
    const foreign = [
      'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
      'http://127.0.0.1:1/stem.wav',
      `${testEnv.config.S3_ENDPOINT}/${testEnv.config.S3_BUCKET}/${stemPrefix}unsigned.wav`,
      'http://[::1]:6379/',
      'http://2130706433/stem.wav',
    ];
    try {
      for (const url of foreign) {
        const outcome = await callTool(mcp, 'synthesize_preview', { blueprint: FUZZ_BLUEPRINT, stems: { vocals_url: url } });
        expect(outcome, url).not.toBe('ok');
        count(tally, 'foreign stem URL', true);
      }
      let index = 0;
      await fc.assert(
        fc.asyncProperty(hostileFile(seeds, refusables), fc.boolean(), async (variant, asInstrumental) => {
          index += 1;
          const key = `${stemPrefix}stem-${index}.wav`;
          await storage.putBuffer(key, variant.data, 'audio/wav');
          const url = await storage.presignGet(key);
          const stems = asInstrumental ? { instrumental_url: url, vocals_url: null } : { vocals_url: url };
          const outcome = await callTool(mcp, 'synthesize_preview', { blueprint: FUZZ_BLUEPRINT, stems });
          if (variant.stemMustRefuse) expect(outcome, variant.kind).not.toBe('ok');
          count(tally, `stem: ${variant.kind}`, outcome !== 'ok');
        }),
        { numRuns: RUNS.stems, seed: SEED, endOnFailure: true },
      );
    } finally {
      await storage.deletePrefix(stemPrefix);
    }
    console.table(tally);
  });

  it('leaves nothing behind, keeps every process up and the api memory bounded', async () => {
    const rows = await db.query<{ id: string }>('SELECT id FROM moments');
    expect(new Set(rows.rows.map((row) => row.id))).toEqual(accepted);
    const keys = await storage.listKeys('moments/');
    expect(keys.map((key) => key.split('/')[1]).sort()).toEqual([...accepted].sort());
    expect(keys.every((key) => /^moments\/[0-9a-f-]{36}\/original\.[a-z0-9]+$/.test(key))).toBe(true);
    // Only the running apps' own fork-server sockets stay, each in its app's directory.
    const servers = stack.apps.map((app) => `mcm-ffmpeg_launcher-${app.child.pid}-`);
    expect((await readdir(workRoot)).filter((name) => !servers.some((prefix) => name.startsWith(prefix)))).toEqual([]);
    for (const app of stack.apps) expect({ app: app.name, exitCode: app.child.exitCode, signal: app.child.signalCode }).toEqual({ app: app.name, exitCode: null, signal: null });
    const total = RUNS.uploads + RUNS.blueprints + RUNS.validate + RUNS.synthesize + RUNS.stems + 5;
    console.log(`fuzz: ${total} variants (seed ${SEED}); ${accepted.size} accepted as valid moments; api RSS ${restingRss.toFixed(0)} MB at rest, ${peakRss.toFixed(0)} MB at peak`);
    expect(peakRss - restingRss).toBeLessThan(MAX_RSS_GROWTH_MB);
  });
});
