import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import openapiTS, { COMMENT_HEADER, astToString } from 'openapi-typescript';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');
const OPENAPI_JSON = path.join(ROOT, 'libs/sdk/openapi.json');
const SCHEMA_TS = path.join(ROOT, 'libs/sdk/src/schema.ts');
const OPENAPI_SCRIPT_SOURCE = path.join(ROOT, 'scripts/openapi.ts');
const OPENAPI_SCRIPT = path.join(ROOT, 'dist/scripts/openapi.js');
const FIX = 'run `npm run sdk:generate` and commit libs/sdk/openapi.json and libs/sdk/src/schema.ts';

/** The SDK is generated, never hand-edited: these fail when the committed files drift from the API's code. */
describe('SDK drift guard', () => {
  it('src/schema.ts is what openapi-typescript generates from the committed openapi.json', async () => {
    // The same options as the package's `generate` script, which the next test pins.
    const expected = COMMENT_HEADER + astToString(await openapiTS(pathToFileURL(OPENAPI_JSON), { silent: true, defaultNonNullable: false, emptyObjectsUnknown: true }));
    const committed = await readFile(SCHEMA_TS, 'utf8');
    expect(committed === expected, `libs/sdk/src/schema.ts is stale: ${FIX}`).toBe(true);
  });

  it('the generate script uses the options this guard checks with', async () => {
    const sdkPackage = JSON.parse(await readFile(path.join(ROOT, 'libs/sdk/package.json'), 'utf8')) as { scripts: Record<string, string> };
    // Defaults must not make request fields required (blueprint time_signature, output_kind …).
    expect(sdkPackage.scripts.generate).toBe('openapi-typescript openapi.json --default-non-nullable=false --empty-objects-unknown -o src/schema.ts');
  });

  it('the committed openapi.json is the document the API builds', async () => {
    if (!existsSync(OPENAPI_SCRIPT_SOURCE)) {
      expect.fail(`scripts/openapi.ts is missing: the API's OpenAPI document cannot be checked`);
    }
    if (!existsSync(OPENAPI_SCRIPT) || statSync(OPENAPI_SCRIPT).mtimeMs < statSync(OPENAPI_SCRIPT_SOURCE).mtimeMs) {
      expect.fail('dist/scripts/openapi.js is missing or older than its source: run `npm run build` first');
    }
    const result = await run(process.execPath, [OPENAPI_SCRIPT, '--check'], { cwd: ROOT, timeout: 60_000 }).then(
      ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
      (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? 1, output: `${error.stdout ?? ''}${error.stderr ?? ''}` }),
    );
    expect(result.code, `libs/sdk/openapi.json drifts from the API (${FIX}):\n${result.output}`).toBe(0);
  });
});
