import type { NodeFs } from './node-fs';

/** Browsers have no file system: bundlers take this in place of node-fs (the package's `browser` field), so no Node module reaches a page. */
export async function loadFs(): Promise<NodeFs> {
  throw new TypeError('File paths work in Node only; in a browser pass a Blob, a File or bytes');
}
