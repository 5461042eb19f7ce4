/** What a script or cron sees: usage errors, quiet successes, plain ASCII outside a terminal. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PASS, tempDir, triad, triadShipped, writeLocalPolicy } from '../helpers/triad.js';

describe('usage, --quiet and plain output', () => {
  it('bare `triad` and a command group without its subcommand print help on stderr and exit 2', () => {
    const bare = triadShipped([]);
    expect(bare.code).toBe(2);
    expect(bare.stdout).toBe('');
    expect(bare.stderr).toContain('Usage: triad');
    const group = triadShipped(['schedule']);
    expect(group.code).toBe(2);
    expect(group.stderr).toContain('Usage: triad schedule');
    expect(triadShipped(['--help']).code).toBe(0);
  });

  it('init -q prints nothing on success; check prints ASCII marks when not on a terminal', () => {
    const dir = tempDir('triad-quiet-');
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'f'), 'x');
    const policy = writeLocalPolicy(dir, { sources: [join(dir, 'data')] });
    const init = triad(['init', '-q', '-p', policy], { env: PASS });
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout + init.stderr).toBe('');
    expect(triad(['backup', '-q', '-p', policy], { env: PASS }).code).toBe(0);
    const check = triad(['check', '-p', policy], { env: PASS });
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toContain('nas: ok no errors');
    expect(check.stdout).not.toMatch(/[✓✗]/);
  });
});
