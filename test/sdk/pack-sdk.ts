import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');
const SDK = path.join(ROOT, 'libs/sdk');
/** Everything that ends up in the tarball; a change to any of it means a new pack. */
const SDK_INPUTS = ['package.json', 'tsconfig.json', 'openapi.json', 'README.md', 'src'];

export interface InstalledSdk {
  /** A fresh npm project with the packed SDK installed from its tarball. */
  dir: string;
  /** `require` rooted in that project: `require('@main-character/sdk')` loads the installed copy. */
  require: NodeRequire;
  tarball: string;
}

let installed: Promise<InstalledSdk> | undefined;

/**
 * Packs libs/sdk exactly as `npm pack` would publish it (prepack build included) and installs the
 * tarball into a fresh temp project. Memoised per process and cached on disk by content hash, so
 * test files running in parallel or one after another pay for it once.
 */
export function packAndInstallSdk(): Promise<InstalledSdk> {
  installed ??= packAndInstall();
  return installed;
}

async function packAndInstall(): Promise<InstalledSdk> {
  const cacheDir = path.join(tmpdir(), `mcm-sdk-${await inputsHash()}`);
  if (!existsSync(path.join(cacheDir, 'ready'))) {
    // Built in a private directory and renamed into place, so concurrent runs never see half an install.
    const work = await mkdtemp(path.join(tmpdir(), 'mcm-sdk-work-'));
    try {
      await build(work);
      await rename(work, cacheDir).catch(async (error: NodeJS.ErrnoException) => {
        if (!existsSync(path.join(cacheDir, 'ready'))) throw error;
      });
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
  const dir = path.join(cacheDir, 'consumer');
  const tarball = path.join(cacheDir, 'pack', (await readdir(path.join(cacheDir, 'pack')))[0]);
  return { dir, tarball, require: createRequire(path.join(dir, 'package.json')) };
}

async function build(work: string): Promise<void> {
  // A copy of the package, so packing never races with a build of libs/sdk/dist in the work tree.
  const source = path.join(work, 'sdk');
  await mkdir(source);
  for (const input of SDK_INPUTS) await cp(path.join(SDK, input), path.join(source, input), { recursive: true });
  // The package's own node_modules (versions the root does not hoist) first, then the root's, as in the work tree.
  await symlink(path.join(ROOT, 'node_modules'), path.join(work, 'node_modules'), 'dir');
  if (existsSync(path.join(SDK, 'node_modules'))) await symlink(path.join(SDK, 'node_modules'), path.join(source, 'node_modules'), 'dir');
  await mkdir(path.join(work, 'pack'));
  await npm(['pack', '--pack-destination', path.join(work, 'pack')], source);
  // Gone before the install: the consumer must resolve everything from its own node_modules.
  await rm(path.join(work, 'node_modules'));

  const consumer = path.join(work, 'consumer');
  await mkdir(consumer);
  await writeFile(path.join(consumer, 'package.json'), JSON.stringify({ name: 'sdk-consumer', version: '1.0.0', private: true }, null, 2));
  const [tarball] = await readdir(path.join(work, 'pack'));
  await npm(['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', path.join(work, 'pack', tarball)], consumer);
  await writeFile(path.join(work, 'ready'), new Date().toISOString());
}

async function npm(args: string[], cwd: string): Promise<void> {
  try {
    await run('npm', args, { cwd, env: { ...process.env, npm_config_update_notifier: 'false' }, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`npm ${args[0]} failed in ${cwd}:\n${stdout ?? ''}${stderr ?? ''}`, { cause: error });
  }
}

async function inputsHash(): Promise<string> {
  const hash = createHash('sha256');
  const typescript = JSON.parse(await readFile(path.join(ROOT, 'node_modules/typescript/package.json'), 'utf8')) as { version: string };
  hash.update(`typescript@${typescript.version}\n`);
  for (const input of SDK_INPUTS) {
    const target = path.join(SDK, input);
    const files =
      input === 'src'
        ? (await readdir(target, { recursive: true }))
            .filter((f) => f.endsWith('.ts'))
            .map((f) => path.join(input, f))
            .sort()
        : [input];
    for (const file of files) hash.update(`${file}\n`).update(await readFile(path.join(SDK, file)));
  }
  return hash.digest('hex').slice(0, 16);
}
