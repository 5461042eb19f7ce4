import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytes } from '../helpers/tree.js';
import { craftSnapshot, type CraftedNode } from '../helpers/craft.js';
import { PASS, scratchDir, triad, triadBytes, writeLocalPolicy } from '../helpers/triad.js';

const base = { mode: 0o644, uid: 0, gid: 0, mtime: 0 };

/** The one-line error and its hint, and no stack trace: what a script or a person reads. */
function expectCleanError(stderr: string, code: string): void {
  expect(stderr).not.toMatch(/^\s+at /m);
  const lines = stderr.trim().split('\n');
  expect(lines[0]).toMatch(new RegExp(`^error: .+ \\[${code}\\]$`));
  expect(lines[1]).toMatch(/^hint: ./);
}

/** Names of the entries GNU tar finds in the stream, and its exit status. */
function tarList(stream: Buffer): { status: number | null; names: string[] } {
  const t = spawnSync('tar', ['-t'], { input: stream });
  return { status: t.status, names: t.stdout.toString().split('\n').filter(Boolean) };
}

describe('dump of a damaged or crafted snapshot', () => {
  const work = scratchDir();
  let policy: string;
  let backedUp: string;
  beforeAll(() => {
    const src = join(work, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'a.txt'), 'first entry\n');
    // Above the minimum chunk size: several blobs, so the damage is met after the entry began.
    writeFileSync(join(src, 'big.bin'), bytes(7, 3 * 1024 * 1024));
    policy = writeLocalPolicy(work, { sources: [src], targets: { nas: { path: join(work, 'nas'), media: 'nas', offsite: false } }, rule: 'none' });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    const b = triad(['backup', '-p', policy, '--json'], { env: PASS });
    expect(b.code, b.stderr).toBe(0);
    backedUp = (JSON.parse(b.stdout) as { snapshot: string }).snapshot;
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const crafted: [string, string, CraftedNode[]][] = [
    ['a name with ../', 'E_UNSAFE_PATH', [{ ...base, name: '../escape.txt', type: 'file', size: 0, data: 'pwned' }]],
    ['a name twice', 'E_UNSAFE_PATH', [
      { ...base, name: 'twice', type: 'file', size: 0, data: 'one' },
      { ...base, name: 'twice', type: 'file', size: 0, data: 'two' },
    ]],
    ['a file whose blobs do not add up to its size', 'E_INTEGRITY', [{ ...base, name: 'short', type: 'file', size: 0, data: 'twelve bytes', recordedSize: 25 }]],
  ];
  for (const [label, code, nodes] of crafted) {
    it(`reports ${label} as ${code}, exit 1, no stack trace`, async () => {
      const id = await craftSnapshot(join(work, 'nas'), nodes);
      const d = await triadBytes(['dump', '-p', policy, id], PASS);
      expect(d.code).toBe(1);
      expectCleanError(d.stderr, code);
      expect(tarList(d.stdout).names).toEqual([]);
    });
  }

  it('reports a bit-flipped pack as E_INTEGRITY naming the blob and pack, exit 1, with the tar stream cut', async () => {
    const packs: string[] = [];
    for (const d of readdirSync(join(work, 'nas', 'data'))) for (const p of readdirSync(join(work, 'nas', 'data', d))) packs.push(join(work, 'nas', 'data', d, p));
    // The largest pack holds big.bin's blobs; a byte in its middle belongs to one of them.
    const victim = packs.sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
    const pos = Math.floor(statSync(victim).size / 2);
    const fd = openSync(victim, 'r+');
    writeSync(fd, Buffer.from([readFileSync(victim)[pos]! ^ 0xff]), 0, 1, pos);
    closeSync(fd);

    const d = await triadBytes(['dump', '-p', policy, backedUp], PASS);
    expect(d.code).toBe(1);
    expectCleanError(d.stderr, 'E_INTEGRITY');
    expect(d.stderr).toMatch(/^error: blob [0-9a-f]{12} in pack [0-9a-f]{12} on target 'nas': /);
    // What came before the damage is there; the stream ends inside big.bin, which tar notices.
    const t = tarList(d.stdout);
    expect(t.names).toEqual(['src', 'src/a.txt', 'src/big.bin']);
    expect(t.status).not.toBe(0);
  });
});
