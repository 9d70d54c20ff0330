import path from 'node:path';
import { createConfig, lint } from '@redocly/openapi-core';
import { describe, expect, it } from 'vitest';

describe('the committed OpenAPI document', () => {
  it("passes Redocly's recommended rules without an error", async () => {
    const problems = await lint({ ref: path.resolve(__dirname, '../../libs/sdk/openapi.json'), config: await createConfig({ extends: ['recommended'] }) });
    const errors = problems.filter((problem) => problem.severity === 'error').map((problem) => `${problem.ruleId}: ${problem.message} at ${problem.location[0]?.pointer}`);
    expect(errors).toEqual([]);
  });
});
