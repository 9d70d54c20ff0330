'use strict';
// Lets piscina run TypeScript worker sources under the test runner: .ts files are compiled as they are required.
// TypeScript's own compiler is plain JavaScript: a native compiler loaded in a thread crashes the process when
// the thread is terminated (an abandoned or timed-out render). Output is cached by content, so a thread that
// replaces a terminated one starts without loading the compiler again.
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const { threadId } = require('node:worker_threads');

// The workspace aliases, as tsconfig.json and .swcrc map them, so worker code may import other libraries.
const ALIASES = { '@mcm/pipeline': path.resolve(__dirname, '../../pipeline/src') };
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function resolveAlias(request, ...rest) {
  for (const [alias, target] of Object.entries(ALIASES)) {
    if (request === alias || request.startsWith(`${alias}/`)) return resolveFilename.call(this, target + request.slice(alias.length), ...rest);
  }
  return resolveFilename.call(this, request, ...rest);
};

const CACHE = path.join(path.dirname(require.resolve('typescript/package.json')), '..', '.cache', 'mcm-ts-require');
let ts;

function compile(source, filename) {
  const cached = path.join(CACHE, `${createHash('sha256').update(`1\0${filename}\0${source}`).digest('hex')}.js`);
  try {
    return fs.readFileSync(cached, 'utf8');
  } catch {
    // Not compiled yet.
  }
  ts ??= require('typescript');
  const { outputText } = ts.transpileModule(source, {
    fileName: filename,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, inlineSourceMap: true, inlineSources: true },
  });
  fs.mkdirSync(CACHE, { recursive: true });
  // Written aside and renamed, so a thread never reads another's half-written file.
  const partial = `${cached}.${process.pid}-${threadId}`;
  fs.writeFileSync(partial, outputText);
  fs.renameSync(partial, cached);
  return outputText;
}

require.extensions['.ts'] ??= (module, filename) => {
  module._compile(compile(fs.readFileSync(filename, 'utf8'), filename), filename);
};
