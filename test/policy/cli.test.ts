import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { triadAsync } from '../helpers/triad.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'triad-policy-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the shipped launcher; never rejects, returns the exit code and both streams. */
const triad = (...args: string[]) => triadAsync(args, { env: { NO_COLOR: '1' }, shipped: true });

const VIOLATING = `version: 1
policy: single-copy
sources: [/srv/data]
encryption: {passphrase_env: TRIAD_PASSPHRASE}
targets:
  nas: {type: local, path: /mnt/nas, media: nas}
`;

beforeAll(async () => {
  // `npm test` builds first; a bare `npx vitest run` on a fresh clone may not have.
  if (!existsSync(path.join(root, 'dist/cli/main.js'))) {
    await run('npx', ['tsc', '-p', 'tsconfig.json', '--noEmitOnError', 'false'], { cwd: root }).catch((e: { stdout?: string }) => e);
  }
  writeFileSync(path.join(tmp, 'violating.yaml'), VIOLATING);
}, 180_000);

describe('triad policy check', () => {
  it('exits 0 for the shipped policies and prints each matrix', async () => {
    const r = await triad('policy', 'check', 'policies/demo.yaml', 'policies/fileserver-s3.yaml', 'policies/postgres-azure.yaml', 'policies/workstations-gcs.yaml');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('policies/demo.yaml: policy demo, rule 3-2-1: PASS');
    expect(r.stdout).toMatch(/offsite\s+local\s+removable\s+yes/);
    expect(r.stdout).toMatch(/distinct media\s+3\s+2\s+pass/);
    expect(r.stdout).toContain('4 policies: 4 pass, 0 fail, 0 invalid');
  });

  it('exits 4 when a valid policy violates its rule', async () => {
    const r = await triad('policy', 'check', path.join(tmp, 'violating.yaml'));
    expect(r.code).toBe(4);
    expect(r.stdout).toContain('FAIL');
    expect(r.stdout).toMatch(/off-site copies\s+0\s+1\s+fail/);
  });

  it('exits 2 for an invalid file, listing its problems as file:line:col: path: message', async () => {
    const r = await triad('policy', 'check', 'fixtures/policies/bad/unknown-key-typo.yaml');
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('fixtures/policies/bad/unknown-key-typo.yaml:24:1: retension: unknown key `retension` (did you mean `retention`?)');
  });

  it('exit 2 wins over 4, and a missing file is invalid too', async () => {
    const r = await triad('policy', 'check', path.join(tmp, 'violating.yaml'), 'fixtures/policies/bad/bad-cron.yaml', 'no/such/policy.yaml');
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('no/such/policy.yaml: policy file not found');
  });

  it('--json prints one document for all files', async () => {
    const r = await triad('policy', 'check', '--json', 'policies/demo.yaml', path.join(tmp, 'violating.yaml'), 'fixtures/policies/bad/wrong-type.yaml');
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout) as {
      ok: boolean;
      exitCode: number;
      results: { file: string; ok: boolean; valid: boolean; verdict: string; policy?: { name: string }; matrix?: { counts: unknown }; problems?: { line: number; path: string }[] }[];
    };
    expect(doc.ok).toBe(false);
    expect(doc.exitCode).toBe(2);
    expect(doc.results.map((x) => [x.verdict, x.ok, x.valid])).toEqual([
      ['pass', true, true],
      ['fail', false, true],
      ['invalid', false, false],
    ]);
    expect(doc.results[0]!.policy!.name).toBe('demo');
    expect(doc.results[0]!.matrix!.counts).toEqual({ copies: 3, media: 3, offsite: 1, immutableOrOffline: 0 });
    expect(doc.results[2]!.problems).toEqual([expect.objectContaining({ line: 13, path: 'targets.nas.offsite' })]);
  });

  it('--json with the global flag before the command works too', async () => {
    const r = await triad('--json', 'policy', 'check', 'policies/demo.yaml');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, exitCode: 0 });
  });

  it('--help shows examples', async () => {
    const r = await triad('policy', 'check', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain('$ triad policy check policies/demo.yaml');
    const group = await triad('policy', '--help');
    expect(group.stdout).toContain('Examples:');
  });

  it('exits 2 when no file is given', async () => {
    const r = await triad('policy', 'check');
    expect(r.code).toBe(2);
  });
});

/** 9 levels of 9-element alias lists: about 500 bytes that expand to 9^10 values. */
function aliasBomb(): string {
  const lines = ['version: 1', 'a0: &a0 [x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i <= 9; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: 9 }, () => `*a${i - 1}`).join(', ')}]`);
  return lines.join('\n') + '\n';
}

describe('bounded policy parsing: every command that loads a policy refuses promptly with exit 2', () => {
  const BOUND_MS = 15_000;
  const commands = (file: string): string[][] => [
    ['policy', 'check', file],
    ['backup', '-p', file],
    ['snapshots', '-p', file],
  ];

  async function refused(file: string): Promise<{ check: string; others: string[] }> {
    const outputs: string[] = [];
    for (const args of commands(file)) {
      const started = Date.now();
      const r = await triad(...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(Date.now() - started).toBeLessThan(BOUND_MS);
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
      outputs.push(args[0] === 'policy' ? r.stdout : r.stderr);
    }
    return { check: outputs[0]!, others: outputs.slice(1) };
  }

  it('a 500-byte alias bomb is refused at the alias that passes the bound, naming file and line', async () => {
    const file = path.join(tmp, 'bomb.yaml');
    writeFileSync(file, aliasBomb());
    const { check, others } = await refused(file);
    expect(check).toMatch(new RegExp(`${file}:4:\\d+: .*more than 1000 alias expansions`));
    for (const err of others) expect(err).toMatch(new RegExp(`error: ${file}:4:\\d+: .*more than 1000 alias expansions.*\\[E_POLICY_INVALID\\]`));
  }, 60_000);

  it('a megabyte of nested brackets is refused at the 65th level', async () => {
    const file = path.join(tmp, 'deep.yaml');
    writeFileSync(file, `version: 1\nsources: ${'['.repeat(500_000)}${']'.repeat(500_000)}\n`);
    const { check, others } = await refused(file);
    expect(check).toContain(`${file}:2:74: nested deeper than 64 levels of [ ] or { }`);
    for (const err of others) expect(err).toContain(`error: ${file}:2:74: nested deeper than 64 levels`);
  }, 60_000);

  it('a 50 MB file is refused by its size before it is read', async () => {
    const file = path.join(tmp, 'huge.yaml');
    writeFileSync(file, `version: 1\npolicy: huge\n#${'x'.repeat(50 * 1024 * 1024)}\n`);
    const { check, others } = await refused(file);
    expect(check).toContain(`${file}: is too large for a policy file: 52428826 bytes, the limit is 1048576 (1 MiB)`);
    for (const err of others) expect(err).toContain(`error: ${file} is too large for a policy file: 52428826 bytes`);
  }, 60_000);

  it('a directory and a FIFO get the same message from policy check and every other command', async () => {
    const dir = path.join(tmp, 'a-directory');
    const fifo = path.join(tmp, 'a-fifo.yaml');
    mkdirSync(dir);
    await run('mkfifo', [fifo]);
    const d = await refused(dir);
    expect(d.check).toContain(`${dir}: is a directory, not a policy file`);
    for (const err of d.others) expect(err).toContain(`error: ${dir} is a directory, not a policy file [E_POLICY_NOT_FOUND]`);
    const f = await refused(fifo);
    expect(f.check).toContain(`${fifo}: is not a regular file`);
    for (const err of f.others) expect(err).toContain(`error: ${fifo} is not a regular file [E_POLICY_NOT_FOUND]`);
  }, 60_000);
});
