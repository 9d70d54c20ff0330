'use strict';
// The vocal worker from its TypeScript source, for runs that are not compiled (tests).
require('./ts-require.cjs');
module.exports = require('./vocal.worker.ts');
