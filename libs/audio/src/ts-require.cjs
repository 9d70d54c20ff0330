'use strict';
// Lets piscina run TypeScript worker sources under the test runner: .ts files are compiled with SWC as they are required.
const fs = require('node:fs');
const path = require('node:path');
const { transformSync } = require('@swc/core');

// The workspace aliases, as tsconfig.json and .swcrc map them, so worker code may import other libraries.
const root = path.resolve(__dirname, '../../..');
const paths = { '@mcm/pipeline': ['libs/pipeline/src'], '@mcm/pipeline/*': ['libs/pipeline/src/*'] };

require.extensions['.ts'] ??= (module, filename) => {
  const source = fs.readFileSync(filename, 'utf8');
  const { code } = transformSync(source, {
    filename,
    swcrc: false,
    sourceMaps: 'inline',
    module: { type: 'commonjs' },
    jsc: { target: 'es2022', parser: { syntax: 'typescript' }, baseUrl: root, paths },
  });
  module._compile(code, filename);
};
