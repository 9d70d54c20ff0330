import path from 'node:path';
import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

const alias = {
  '@mcm/pipeline': path.resolve(import.meta.dirname, 'libs/pipeline/src'),
  '@mcm/audio': path.resolve(import.meta.dirname, 'libs/audio/src'),
  '@mcm/core': path.resolve(import.meta.dirname, 'libs/core/src'),
  // music-tools is a client of the api through the SDK; specs run its source, the packed copy has its own tests.
  '@main-character/sdk': path.resolve(import.meta.dirname, 'libs/sdk/src'),
};

const AUDIO_SPECS = ['libs/audio/**/*.spec.ts', 'apps/music-tools/**/*.spec.ts'];
// Specs that run ffmpeg in their own process fork it from a fork server, as the apps do.
const FORK_SERVER_SETUP = 'test/support/ffmpeg-fork-server.setup.ts';

// SWC keeps decorator metadata, which Nest's dependency injection needs.
const plugins = [swc.vite({ module: { type: 'es6' } })];

export default defineConfig({
  plugins,
  resolve: { alias },
  test: {
    // Most files wait on processes, ffmpeg and services: three at a time keep two cores busy.
    maxWorkers: 3,
    projects: [
      {
        plugins,
        resolve: { alias },
        // Fast: services on fake adapters, the machine, schemas. No ffmpeg, rendering, Postgres or Redis.
        test: {
          name: 'unit',
          include: ['apps/**/*.spec.ts', 'libs/**/*.spec.ts'],
          exclude: ['**/node_modules/**', 'libs/sdk/**', ...AUDIO_SPECS],
          testTimeout: 30_000,
          // Nothing here holds process state between files: one module graph per worker, instead of one per file, takes the import time from 60 s to 10 s.
          isolate: false,
        },
      },
      {
        plugins,
        resolve: { alias },
        // Specs beside the code that render and decode real audio (ffmpeg, synthesis, the music-tools server).
        test: { name: 'audio', include: AUDIO_SPECS, exclude: ['**/node_modules/**'], testTimeout: 30_000, setupFiles: [FORK_SERVER_SETUP] },
      },
      {
        plugins,
        resolve: { alias },
        test: { name: 'medium', include: ['test/medium/**/*.spec.ts'], testTimeout: 60_000, hookTimeout: 120_000, setupFiles: [FORK_SERVER_SETUP] },
      },
      {
        plugins,
        resolve: { alias },
        test: { name: 'faults', include: ['test/faults/**/*.spec.ts'], testTimeout: 1_500_000, hookTimeout: 300_000 },
      },
      {
        plugins,
        resolve: { alias },
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.e2e-spec.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // Each file runs its own stack of three processes: two stacks at a time on two cores, after the other projects.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        plugins,
        resolve: { alias },
        // The page in real Chromium against the stack as processes: one stack and one browser per file, beside the end-to-end files.
        test: { name: 'browser', include: ['test/browser/**/*.spec.ts'], testTimeout: 180_000, hookTimeout: 180_000, maxWorkers: 2, sequence: { groupOrder: 1 } },
      },
      {
        plugins,
        // Unit tests exercise the SDK's source; sdk-pack.spec.ts covers the built, packed package.
        resolve: { alias },
        test: { name: 'sdk', include: ['test/sdk/**/*.spec.ts'], testTimeout: 120_000, hookTimeout: 120_000 },
      },
    ],
  },
});
