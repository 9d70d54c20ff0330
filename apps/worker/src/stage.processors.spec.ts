import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@mcm/core/config/app-config';
import { STAGES } from '@mcm/pipeline';
import { LIGHT_STAGE_CONCURRENCY, stageConcurrency, stageWorkerOptions } from './stage.processors';

describe('stage concurrency', () => {
  it('defaults from the core count: one job per core for CPU-heavy stages, a small constant for the rest', () => {
    const config = loadConfig({}, 'worker');
    expect(config.WORKER_CONCURRENCY).toBeUndefined();
    for (const cores of [1, 2, 16]) {
      expect(Object.fromEntries(STAGES.map((stage) => [stage, stageConcurrency(config, stage, cores)]))).toEqual({
        analyze: cores,
        compose: LIGHT_STAGE_CONCURRENCY,
        validate: LIGHT_STAGE_CONCURRENCY,
        render_vocals: cores,
        render_instrumental: cores,
        mix: LIGHT_STAGE_CONCURRENCY,
      });
    }
    expect(stageWorkerOptions(config, 'render_instrumental').concurrency).toBe(availableParallelism());
  });

  it('lets WORKER_CONCURRENCY set every stage', () => {
    const config = loadConfig({ WORKER_CONCURRENCY: '3' }, 'worker');
    for (const stage of STAGES) expect(stageWorkerOptions(config, stage).concurrency).toBe(3);
    expect(() => loadConfig({ WORKER_CONCURRENCY: '0' }, 'worker')).toThrow('WORKER_CONCURRENCY');
  });
});
