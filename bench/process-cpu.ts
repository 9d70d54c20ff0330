import { readdirSync, readFileSync } from 'node:fs';

/** CPU time in milliseconds of a process (utime + stime) and of the children it has waited for (cutime + cstime), from /proc. */
export function processCpuMs(pid: number | 'self' = 'self'): { own: number; children: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // USER_HZ is 100 on every Linux the stack runs on.
  const tick = 10;
  return { own: (Number(fields[11]) + Number(fields[12])) * tick, children: (Number(fields[13]) + Number(fields[14])) * tick };
}

/** CPU time in milliseconds of every running process named `command` (its own, as `comm` in /proc reads): a local service's, Postgres' or Redis'. */
export function commandCpuMs(command: string): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) === command) total += processCpuMs(Number(entry)).own;
    } catch {
      // Gone between the listing and the read.
    }
  }
  return total;
}

/** The processes whose parent is `pid`, now. */
function childPids(pid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) pids.push(Number(entry));
    } catch {
      // Gone between the listing and the read.
    }
  }
  return pids;
}

/**
 * CPU of a process and of every process below it, in ms: its own, its waited-for children's, and that of the
 * children still running (an app's ffmpeg launcher, and the ffmpeg processes that one runs, which reach the app's
 * own count only when the launcher exits).
 */
export function processTreeCpuMs(pid: number): number {
  const { own, children } = processCpuMs(pid);
  return own + children + childPids(pid).reduce((sum, child) => sum + processTreeCpuMs(child), 0);
}
