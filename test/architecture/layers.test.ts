import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers/triad.js';

const DEPCRUISE = join(ROOT, 'node_modules', '.bin', 'depcruise');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

/** Runs dependency-cruiser with the project's rules on `dir`/src; returns its violations. */
function cruise(dir: string): Violation[] {
  const r = spawnSync(DEPCRUISE, ['src', '--config', '.dependency-cruiser.cjs', '--output-type', 'json'], { cwd: dir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  expect(r.stdout.length, r.stderr).toBeGreaterThan(0);
  return (JSON.parse(r.stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

/** A copy of the project's sources and rules, to plant imports in. */
function copyOfSources(): string {
  const dir = tempDir('triad-layers-');
  for (const f of ['src', '.dependency-cruiser.cjs', 'tsconfig.json', 'package.json']) cpSync(join(ROOT, f), join(dir, f), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

describe('layering (DESIGN.md §1), checked by dependency-cruiser', () => {
  it('src/ imports only downward: cli → app → policy/repo/catalog/compliance/scheduler → backends → core, no cycles', () => {
    const violations = cruise(ROOT);
    expect(violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`)).toEqual([]);
  });

  it('an upward import, a sideways one, a concrete backend in the engine, a subsystem entered past its index and a cycle are each caught', () => {
    const dir = copyOfSources();
    appendFileSync(join(dir, 'src/core/token.ts'), "\nimport '../app/backup.js';\n");
    appendFileSync(join(dir, 'src/repo/model/tree.ts'), "\nimport '../../catalog/index.js';\n");
    appendFileSync(join(dir, 'src/repo/blob/pack.ts'), "\nimport '../../backends/s3.js';\n");
    appendFileSync(join(dir, 'src/app/init.ts'), "\nimport '../repo/backup/writer.js';\n");
    appendFileSync(join(dir, 'src/repo/check/checker.ts'), "\nimport '../restore/dump.js';\n");
    appendFileSync(join(dir, 'src/repo/backup/source-tree.ts'), "\nimport './archiver.js';\n");
    const found = cruise(dir).map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
    expect(found).toEqual(
      expect.arrayContaining([
        'core-imports-nothing: src/core/token.ts → src/app/backup.ts',
        'app-only-from-cli: src/core/token.ts → src/app/backup.ts',
        'middle-layer-stays-apart: src/repo/model/tree.ts → src/catalog/index.ts',
        'repo-sees-only-the-storage-interface: src/repo/blob/pack.ts → src/backends/s3.ts',
        'no-cycles: src/repo/backup/archiver.ts → src/repo/backup/source-tree.ts',
        'repo-subsystems-through-their-index: src/app/init.ts → src/repo/backup/writer.ts',
        'repo-subsystems-meet-at-their-index: src/repo/check/checker.ts → src/repo/restore/dump.ts',
      ]),
    );
    // The exit status is what a CI step would see.
    expect(() => execFileSync(DEPCRUISE, ['src', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], { cwd: dir, stdio: 'pipe' })).toThrow();
  });
});
