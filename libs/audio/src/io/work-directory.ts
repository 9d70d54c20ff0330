import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** `mcm-<purpose>-<pid>-XXXXXX`: the owning process is in the name, so a sweep tells a live directory from a leftover. */
const OWNED = /^mcm-[a-z_]+-(\d+)-[A-Za-z0-9]{6}$/;
/** Names from before the pid was part of them: only the apps' own purposes, and only once nothing has touched them for a while. */
const UNOWNED = /^mcm-(upload|preview|mix|analyze|compose|validate|render_vocals|render_instrumental)-[A-Za-z0-9]{6}$/;
const UNOWNED_IDLE_MS = 3_600_000;

/** A fresh private directory under the temp dir for one piece of work; the caller removes it. */
export async function makeWorkDirectory(purpose: string): Promise<string> {
  if (!/^[a-z_]+$/.test(purpose)) throw new Error(`work directory purpose must be lower-case letters: ${purpose}`);
  return mkdtemp(path.join(tmpdir(), `mcm-${purpose}-${process.pid}-`));
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes work directories a killed process left behind: those whose owning pid is not running,
 * and old-style ones idle for an hour. Directories of live processes (other apps and workers on
 * the same machine) are never touched. Returns the names removed.
 */
export async function sweepWorkDirectories(now = Date.now()): Promise<string[]> {
  const root = tmpdir();
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  const removed: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const owner = OWNED.exec(entry.name);
    const leftover = owner ? !isAlive(Number(owner[1])) : UNOWNED.test(entry.name) && ((await stat(path.join(root, entry.name)).catch(() => null))?.mtimeMs ?? now) < now - UNOWNED_IDLE_MS;
    if (!leftover) continue;
    const gone = await rm(path.join(root, entry.name), { recursive: true, force: true }).then(
      () => true,
      () => false,
    );
    if (gone) removed.push(entry.name);
  }
  return removed;
}
