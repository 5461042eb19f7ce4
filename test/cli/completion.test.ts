/**
 * `triad completion bash|zsh|fish`: the scripts the shipped CLI prints, loaded in the real
 * shells. bash and fish complete for real (bash's `_triad` with COMP_WORDS set as readline
 * would, fish's `complete -C`); zsh's completion builtins need a terminal, so zsh runs the
 * script's own `_triad` with `_describe`, `_files` and `compadd` replaced by functions that
 * print what they were given. zsh and fish are test prerequisites (see the README).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratchDir, triadShipped } from '../helpers/triad.js';
import { buildProgram } from '../../src/cli/main.js';
import { makeContext } from '../../src/cli/context.js';
import { allCommands, commandTree } from '../../src/cli/help/tree.js';

let dir: string;
const script: Record<string, string> = {};

beforeAll(() => {
  dir = scratchDir('triad-completion-');
  // A working directory where a policy value has something to choose from.
  writeFileSync(join(dir, 'finance.yaml'), 'version: 1\n');
  writeFileSync(join(dir, 'laptop.yml'), 'version: 1\n');
  writeFileSync(join(dir, 'notes.txt'), 'not a policy\n');
  mkdirSync(join(dir, 'etc'));
  for (const shell of ['bash', 'zsh', 'fish']) {
    const r = triadShipped(['completion', shell]);
    expect(r.code, r.stderr).toBe(0);
    script[shell] = join(dir, `triad.${shell}`);
    writeFileSync(script[shell], r.stdout);
  }
});

function shell(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: dir } });
  expect(r.error).toBeUndefined();
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout;
}

/** What bash completes for the words typed so far (the last one is the word being completed). */
function bashComplete(words: string[]): string[] {
  const quoted = words.map((w) => `'${w}'`).join(' ');
  const out = shell('bash', ['-c', `source '${script.bash}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _triad; printf '%s\\n' "\${COMPREPLY[@]}"`]);
  return out.split('\n').filter(Boolean).sort();
}

/** What fish completes for this command line (candidates without their descriptions). */
function fishComplete(line: string): string[] {
  const out = shell('fish', ['--no-config', '-c', `source '${script.fish}'; complete -C '${line}'`]);
  return out.split('\n').filter(Boolean).map((l) => l.split('\t')[0] ?? '').sort();
}

/** What zsh's _triad hands to the completion system for these words. */
function zshComplete(words: string[]): string[] {
  const stubs = [
    'compdef() { :; }',
    '_describe() { local -a described_; described_=("${(@P)${@[-1]}}"); print -l -- "${described_[@]%%:*}"; }',
    '_files() { print -r -- "_files $*"; }',
    'compadd() { shift; print -l -- "$@"; }',
  ].join('; ');
  const quoted = words.map((w) => `'${w}'`).join(' ');
  const out = shell('zsh', ['-f', '-c', `${stubs}; source '${script.zsh}'; words=(${quoted}); CURRENT=${words.length}; _triad`]);
  return out.split('\n').filter(Boolean).sort();
}

describe('triad completion', () => {
  it('bash completes commands, subcommands, options, policy files and choices', () => {
    expect(bashComplete(['triad', 'sn'])).toEqual(['snapshots']);
    expect(bashComplete(['triad', 'policy', 'ch'])).toEqual(['check']);
    expect(bashComplete(['triad', 'schedule', 'i'])).toEqual(['install']);
    expect(bashComplete(['triad', 'backup', '--po'])).toEqual(['--policy']);
    // Global options are accepted after the command too, and a value is skipped as a value.
    expect(bashComplete(['triad', '--json', 'backup', '-p', 'finance.yaml', '--ta'])).toEqual(['--tag', '--target']);
    expect(bashComplete(['triad', 'backup', '-p', ''])).toEqual(['etc', 'finance.yaml', 'laptop.yml']);
    expect(bashComplete(['triad', 'policy', 'check', 'finance.yaml', ''])).toEqual(['etc', 'finance.yaml', 'laptop.yml']);
    expect(bashComplete(['triad', 'schedule', 'run', '--log-format', ''])).toEqual(['json', 'plain']);
    expect(bashComplete(['triad', 'completion', ''])).toEqual(['bash', 'fish', 'zsh']);
    expect(bashComplete(['triad', 'schedule', 'install', '--dir', ''])).toEqual(['etc']);
    // A duration or a snapshot id has nothing to offer.
    expect(bashComplete(['triad', 'backup', '--wait', ''])).toEqual([]);
  });

  it('bash offers every command of the tree under its parent', () => {
    const root = commandTree(buildProgram(makeContext({}, dir, new AbortController().signal, () => undefined)));
    for (const cmd of allCommands(root)) {
      const words = [...cmd.path.slice(0, -1), ''];
      expect(bashComplete(words), cmd.path.join(' ')).toContain(cmd.path[cmd.path.length - 1]);
    }
  });

  it('fish completes the same', () => {
    expect(fishComplete('triad sn')).toEqual(['snapshots']);
    expect(fishComplete('triad policy ch')).toEqual(['check']);
    expect(fishComplete('triad backup --po')).toEqual(['--policy']);
    expect(fishComplete('triad --json backup -p finance.yaml --ta')).toEqual(['--tag', '--target']);
    expect(fishComplete('triad backup -p ')).toEqual(['etc/', 'finance.yaml', 'laptop.yml']);
    expect(fishComplete('triad schedule run --log-format ')).toEqual(['json', 'plain']);
    expect(fishComplete('triad completion ')).toEqual(['bash', 'fish', 'zsh']);
    expect(fishComplete('triad backup --wait ')).toEqual([]);
  });

  it('zsh parses the script and hands the same candidates to its completion system', () => {
    shell('zsh', ['-n', script.zsh ?? '']);
    expect(zshComplete(['triad', 'policy', ''])).toEqual(['check']);
    expect(zshComplete(['triad', ''])).toContain('snapshots');
    expect(zshComplete(['triad', 'backup', '--p'])).toContain('--policy');
    expect(zshComplete(['triad', 'backup', '-p', ''])).toEqual(['_files -g *.(yaml|yml)']);
    expect(zshComplete(['triad', 'schedule', 'install', '--dir', ''])).toEqual(['_files -/']);
    expect(zshComplete(['triad', 'completion', ''])).toEqual(['bash', 'fish', 'zsh']);
  });

  it('an unknown shell is a usage error (exit 2)', () => {
    const r = triadShipped(['completion', 'tcsh']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Allowed choices are bash, zsh, fish");
  });
});

