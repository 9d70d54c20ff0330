'use strict';
// Lets piscina run TypeScript worker sources under the test runner: .ts files are compiled with SWC as they are required.
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
