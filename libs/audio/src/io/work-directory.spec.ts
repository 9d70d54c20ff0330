import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeWorkDirectory, sweepWorkDirectories } from './work-directory';

describe('work directories', () => {
  const previous = process.env.TMPDIR;
  let root: string;

  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'work-directory-spec-'));
    process.env.TMPDIR = root;
  });

  afterEach(() => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(root, { recursive: true, force: true });
  });

  it('names a work directory after its purpose and the owning process', async () => {
    const directory = await makeWorkDirectory('render_vocals');
    expect(path.dirname(directory)).toBe(root);
    expect(path.basename(directory)).toMatch(new RegExp(`^mcm-render_vocals-${process.pid}-[A-Za-z0-9]{6}$`));
    await expect(makeWorkDirectory('../escape')).rejects.toThrow(/purpose/);
  });

  it('sweeps directories of processes that are gone, and old unowned ones, and nothing else', async () => {
    const child = spawn(process.execPath, ['-e', '']);
    await once(child, 'exit');
    const mine = path.basename(await makeWorkDirectory('upload'));
    const names = [`mcm-upload-${child.pid}-aB3dE6`, 'mcm-preview-Old001', 'mcm-preview-New001', 'mcm-preview-notes', `mcm-upload-${child.pid}`, 'mcm-sdk-0123456789'];
    for (const name of names) mkdirSync(path.join(root, name));
    const old = new Date(Date.now() - 2 * 3_600_000);
    utimesSync(path.join(root, 'mcm-preview-Old001'), old, old);
    utimesSync(path.join(root, 'mcm-sdk-0123456789'), old, old);

    expect((await sweepWorkDirectories()).sort()).toEqual([`mcm-upload-${child.pid}-aB3dE6`, 'mcm-preview-Old001'].sort());
    expect(readdirSync(root).sort()).toEqual([mine, 'mcm-preview-New001', 'mcm-preview-notes', `mcm-upload-${child.pid}`, 'mcm-sdk-0123456789'].sort());
  });
});
