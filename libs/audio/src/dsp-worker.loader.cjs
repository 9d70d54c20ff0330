'use strict';
// The DSP worker from its TypeScript source, for runs that are not compiled (tests).
require('./ts-require.cjs');
module.exports = require('./dsp.worker.ts');
