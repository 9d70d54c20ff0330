#!/usr/bin/env node
// Some registry mirrors do not serve every platform's prebuilt binary. `npm install` then
// leaves those optional packages out of package-lock.json and `npm ci` refuses the lock.
// This adds them back with their os/cpu, so npm skips them on other platforms as it should.
import { readFileSync, writeFileSync } from 'node:fs';

const OS = ['darwin', 'linux', 'win32', 'freebsd', 'android', 'sunos', 'aix'];
const CPU = [
  ['arm64', 'arm64'],
  ['x64', 'x64'],
  ['ia32', 'ia32'],
  ['gnueabihf', 'arm'],
  ['ppc64', 'ppc64'],
  ['s390x', 's390x'],
  ['riscv64', 'riscv64'],
  ['-arm', 'arm'],
];

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
let added = 0;
for (const [path, entry] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (lock.packages[key]) continue;
    const os = OS.find((candidate) => name.includes(`-${candidate}`));
    const cpu = CPU.find(([marker]) => name.includes(marker))?.[1];
    if (!os || !cpu) {
      console.warn(`left out ${name}: cannot tell its platform`);
      continue;
    }
    lock.packages[key] = { version, cpu: [cpu], os: [os], optional: true, ...(entry.dev ? { dev: true } : {}) };
    added += 1;
    console.log(`added ${name}@${version} (${os}/${cpu}) for ${path || 'the root'}`);
  }
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`${added} optional platform packages added`);
