import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/triad.js';

describe('lint', () => {
  it("src/ passes typescript-eslint's type-checked rules and the environment / wall-clock rules of eslint.config.mjs", () => {
    const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'eslint'), ['src'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    // The problems themselves are the message when this fails.
    expect(r.stdout.trim(), r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 300_000);
});
