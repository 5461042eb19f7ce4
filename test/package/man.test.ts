/**
 * man/triad.1 is written by `npm run man` (scripts/man.mjs, also run by prepack) from the
 * built CLI's command tree: every command, option and example of --help is in the page, and
 * groff and man render it without a warning.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, scratchDir } from '../helpers/triad.js';
import { buildProgram } from '../../src/cli/main.js';
import { makeContext } from '../../src/cli/context.js';
import { allCommands, commandTree, type CommandSpec } from '../../src/cli/help/tree.js';

let page: string;
let rendered: string;
let root: CommandSpec;

function run(cmd: string, args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env } });
}

beforeAll(() => {
  const out = join(scratchDir('triad-man-'), 'triad.1');
  const r = run(process.execPath, ['scripts/man.mjs', out]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  page = readFileSync(out, 'utf8');
  // Wide enough that no usage line or example wraps.
  const m = run('man', ['--warnings', '-l', out], { MANWIDTH: '250', LANG: 'C.UTF-8' });
  expect(m.stderr).toBe('');
  expect(m.status).toBe(0);
  rendered = m.stdout;
  root = commandTree(buildProgram(makeContext({}, ROOT, new AbortController().signal, () => undefined)));
});

describe('the man page', () => {
  it('renders without warnings in groff (UTF-8 and ASCII) and man', () => {
    for (const device of ['utf8', 'ascii']) {
      const r = spawnSync('groff', ['-man', `-T${device}`, '-ww', '-z'], { input: page, encoding: 'utf8' });
      expect(r.stderr, device).toBe('');
      expect(r.status).toBe(0);
    }
    expect(rendered).toMatch(/^TRIAD\(1\)/);
    expect(rendered).toContain(`triad ${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string}`);
  });

  it('has a section for every command with its usage, options and examples', () => {
    const commands = allCommands(root);
    expect(commands.map((c) => c.path.join(' '))).toEqual(expect.arrayContaining(['triad policy check', 'triad backup', 'triad schedule install', 'triad completion']));
    for (const cmd of commands) {
      const name = cmd.path.join(' ');
      expect(page, name).toContain(`.SS "${name.replace(/-/g, '\\-')}"`);
      expect(rendered, name).toContain(`${name} ${cmd.usage}`);
      for (const o of cmd.options) expect(rendered, `${name} ${o.flags}`).toContain(o.flags);
      expect(cmd.examples.length, `${name} has no Examples: block`).toBeGreaterThan(0);
      for (const e of cmd.examples) expect(rendered, name).toContain(`$ ${e.replace(/…/g, '...')}`);
    }
  });

  it('lists the global options and every exit status', () => {
    for (const o of root.options) expect(rendered).toContain(o.flags);
    const statuses = { '0': 'ok', '1': 'failed', '2': 'usage/invalid policy', '3': 'partial snapshot', '4': 'compliance finding', '10': 'no repository', '11': 'locked', '12': 'wrong passphrase', '130/143': 'interrupted' };
    const section = rendered.slice(rendered.indexOf('\nEXIT STATUS\n'), rendered.indexOf('\nSHELL COMPLETION\n'));
    for (const [code, meaning] of Object.entries(statuses)) expect(section).toMatch(new RegExp(`^ +${code}\\s+${meaning}$`, 'm'));
  });
});
