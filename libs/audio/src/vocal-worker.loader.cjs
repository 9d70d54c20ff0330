'use strict';
// Lets piscina run the TypeScript vocal worker source (under vitest), as dsp-worker.loader.cjs does for the DSP worker.
const fs = require('node:fs');
const { transformSync } = require('@swc/core');

require.extensions['.ts'] ??= (module, filename) => {
  const source = fs.readFileSync(filename, 'utf8');
  const { code } = transformSync(source, {
    filename,
    swcrc: false,
    sourceMaps: 'inline',
    module: { type: 'commonjs' },
    jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
  });
  module._compile(code, filename);
};

module.exports = require('./vocal.worker.ts');
