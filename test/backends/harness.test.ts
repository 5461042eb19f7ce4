import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openStorage } from '../../src/backends/open.js';
import { RateLimitedStorage } from '../../src/backends/ratelimit.js';
import { RetryStorage } from '../../src/backends/retry.js';
import type { LocalTarget } from '../../src/policy/types.js';
import { closedPort } from '../helpers/emulators.js';

const guard = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'orphan-guard.cjs');

describe('emulator harness', () => {
  it('the orphan guard ends a child whose parent (stdin holder) went away', async () => {
    const child = spawn(process.execPath, ['-r', guard, '-e', 'setInterval(() => {}, 1000)'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise((r) => setTimeout(r, 300));
    expect(child.exitCode).toBeNull();
    child.stdin.end();
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 5000));
    expect(await Promise.race([exited, timeout])).toBe(0);
  });

  it('closedPort gives a port nobody listens on', async () => {
    const port = await closedPort();
    expect(port).toBeGreaterThan(0);
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  });
});

describe('openStorage wrapping', () => {
  it('wraps in retry, and in a rate limit only when upload_limit > 0', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'triad-open-'));
    try {
      const target: LocalTarget = { name: 'nas', type: 'local', path: dir, media: 'nas', offsite: false, immutable: false, upload_limit: 0 };
      const plain = await openStorage(target, { env: {} });
      expect(plain).toBeInstanceOf(RetryStorage);
      const limited = await openStorage({ ...target, upload_limit: 1024 * 1024 }, { env: {} });
      expect(limited).toBeInstanceOf(RateLimitedStorage);
      expect((limited as RateLimitedStorage).inner).toBeInstanceOf(RetryStorage);
      const overridden = await openStorage(target, { env: {}, uploadLimit: 5000 });
      expect(overridden).toBeInstanceOf(RateLimitedStorage);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
