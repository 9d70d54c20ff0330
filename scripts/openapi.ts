import 'reflect-metadata';
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { NestFactory } from '@nestjs/core';
import { loadConfig } from '@mcm/core';
import { ApiModule } from '../apps/api/src/api.module';
import { createOpenApiDocument } from '../apps/api/src/openapi';

/**
 * Writes the API's OpenAPI document to libs/sdk/openapi.json without a database or a listener:
 * preview mode resolves the module graph but instantiates no provider.
 * `--check` only compares, and fails when the committed file is out of date; `--out <file>` writes elsewhere.
 */
const outFlag = process.argv.indexOf('--out');
const TARGET = outFlag > 0 ? resolve(process.argv[outFlag + 1]) : resolve(__dirname, '../../libs/sdk/openapi.json');

/** Object keys sorted at every level, so the file changes only when the API does. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

async function main(): Promise<void> {
  const app = await NestFactory.create(ApiModule.forRoot(loadConfig({}, 'api')), { preview: true, logger: false, abortOnError: false });
  const document = createOpenApiDocument(app);
  await app.close();
  const text = `${JSON.stringify(sortKeys(document), null, 2)}\n`;

  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(TARGET, 'utf8');
    } catch {
      // a missing file is out of date too
    }
    if (current !== text) {
      process.stderr.write(`${TARGET} is out of date with the API: run \`npm run openapi\` and commit the result.\n`);
      process.exit(1);
    }
    process.stdout.write(`${TARGET} is up to date\n`);
    return;
  }
  writeFileSync(TARGET, text);
  process.stdout.write(`wrote ${TARGET} (${Object.keys(document.paths).length} paths)\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`openapi: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
