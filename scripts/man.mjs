#!/usr/bin/env node
// `npm run man` (and prepack): writes man/triad.1 from the built CLI's own command tree,
// so the page shows exactly the commands, options and examples of `triad --help`.
// Usage: node scripts/man.mjs [OUTPUT]   (default man/triad.1; run `npm run build` first)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { buildProgram } = await import('../dist/cli/main.js');
const { makeContext } = await import('../dist/cli/context.js');
const { manPage } = await import('../dist/cli/help/man.js');

const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const program = buildProgram(makeContext(process.env, process.cwd(), new AbortController().signal, () => undefined));
const output = resolve(process.argv[2] ?? join(root, 'man', 'triad.1'));
mkdirSync(dirname(output), { recursive: true });
writeFileSync(output, manPage(program, version));
