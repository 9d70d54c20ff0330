'use strict';
// Tasks with known resource behaviour, for testing the audio pool's limits on real threads.

/** Answers at once. */
exports.echo = (value) => value;

/** Keeps its thread busy until the thread is stopped. */
exports.spin = () => {
  for (;;);
};

/** Fills the heap with live objects until the thread's memory limit stops it. */
exports.hoard = () => {
  const kept = [];
  for (;;) kept.push({ index: kept.length, label: `object ${kept.length}` });
};
