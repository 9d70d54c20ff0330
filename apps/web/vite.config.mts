import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { defineConfig, type Plugin } from 'vite';

const root = import.meta.dirname;
const sdkSource = path.resolve(root, '../../libs/sdk/src');

/** Gzipped JavaScript the page may ship; the build fails above it. */
export const JS_BUDGET_BYTES = 150 * 1024;

/** The SDK's `browser` field, for its source: its node:fs loader becomes one that refuses file paths. */
function sdkForBrowsers(): Plugin {
  return {
    name: 'sdk-for-browsers',
    enforce: 'pre',
    resolveId(source, importer) {
      if (importer?.startsWith(sdkSource) && /\/node-fs$/.test(source)) return path.join(sdkSource, 'node-fs.browser.ts');
      return null;
    },
  };
}

/** Fails the build when the page's JavaScript grows past its budget or pulls in a Node module. */
function bundleBudget(): Plugin {
  return {
    name: 'bundle-budget',
    apply: 'build',
    generateBundle(_options, bundle) {
      let gzipped = 0;
      for (const chunk of Object.values(bundle)) {
        if (chunk.type !== 'chunk') continue;
        gzipped += gzipSync(chunk.code).length;
        const node = chunk.moduleIds.filter((id) => id.startsWith('node:') || id.includes('__vite-browser-external'));
        if (node.length) this.error(`the page bundles Node-only modules: ${node.join(', ')}`);
      }
      if (gzipped > JS_BUDGET_BYTES) this.error(`the page ships ${(gzipped / 1024).toFixed(1)} KB of gzipped JavaScript; the budget is ${JS_BUDGET_BYTES / 1024} KB`);
      this.info(`page JavaScript: ${(gzipped / 1024).toFixed(1)} KB gzipped (budget ${JS_BUDGET_BYTES / 1024} KB)`);
    },
  };
}

/**
 * The page, built into dist/web, which the api serves at `/` and `/m/{id}`. Preact through Vite's own
 * JSX transform; the SDK is compiled from its source, so the page bundles only what it calls
 * (no CLI, no node:fs, no webhook verification).
 */
export default defineConfig({
  root,
  publicDir: path.join(root, 'public'),
  plugins: [sdkForBrowsers(), bundleBudget()],
  resolve: { alias: { '@main-character/sdk': path.join(sdkSource, 'index.ts') } },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: path.resolve(root, '../../dist/web'),
    emptyOutDir: true,
    target: 'es2022',
    // The api's CSP allows scripts from this origin only: no inline polyfill.
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  // `npm run web:dev`: the page with hot reload, talking to the api of `npm start`.
  server: { proxy: { '/v1': 'http://127.0.0.1:3000' } },
});
