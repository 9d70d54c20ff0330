import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { buildForkServer } from '../../libs/audio/src/io/ffmpeg-launcher';

const SOURCE = path.resolve(__dirname, '../../libs/audio/src/io/ffmpeg-forkserver.c');
const CACHE = path.resolve(__dirname, '../../node_modules/.cache/mcm-forkserver');

/**
 * The ffmpeg fork server built from its source for test runs, once per version of the source: the build puts
 * its own beside the compiled engine, which specs running the TypeScript source do not load.
 */
export async function forkServerForTests(): Promise<string> {
  const library = path.join(CACHE, `${createHash('sha256').update(readFileSync(SOURCE)).digest('hex').slice(0, 16)}.so`);
  if (existsSync(library)) return library;
  mkdirSync(CACHE, { recursive: true });
  // Built aside and renamed, so a worker never loads another's half-written library.
  const partial = `${library}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  await buildForkServer(partial);
  renameSync(partial, library);
  return library;
}
