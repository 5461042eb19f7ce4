#!/usr/bin/env node
// Run before the suite (`npm test`'s pretest): the programs some tests drive besides Node.js.
// On Debian as root the missing ones are installed with apt-get (the suite's emulators come
// from npm; these come from Debian); elsewhere the script names them and stops the run,
// since a test must fail or pass, never skip for a missing tool.
import { spawnSync } from 'node:child_process';

/** Program → Debian package, and the tests that need it. */
const NEEDED = [
  ['zsh', 'zsh', 'completion scripts are loaded in zsh'],
  ['fish', 'fish', 'completion scripts are loaded in fish'],
  ['groff', 'groff', 'the man page must render without warnings'],
  ['man', 'man-db', 'the installed man page is looked up with man'],
  ['systemd-analyze', 'systemd', 'generated units are checked with systemd-analyze verify'],
  ['flock', 'util-linux', 'crontab lines run under flock'],
];

const has = (program) => spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status === 0;
const missing = NEEDED.filter(([program]) => !has(program));
if (missing.length === 0) process.exit(0);

const packages = [...new Set(missing.map(([, pkg]) => pkg))];
const root = process.getuid?.() === 0;
if (root && has('apt-get')) {
  console.error(`test prerequisites: installing ${packages.join(', ')} with apt-get`);
  const apt = (args) => spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
  // A fresh machine may have no package lists yet.
  const ok = apt(['install', '-y', '--no-install-recommends', ...packages]) || (apt(['update']) && apt(['install', '-y', '--no-install-recommends', ...packages]));
  if (ok && NEEDED.every(([program]) => has(program))) process.exit(0);
}
console.error('the test suite needs programs that are not installed:');
for (const [program, pkg, why] of missing) console.error(`  ${program} (Debian package ${pkg}): ${why}`);
console.error(`install them (Debian: apt-get install ${packages.join(' ')}) and run the suite again`);
process.exit(1);
