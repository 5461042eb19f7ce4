import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PASS, scratchDir, triad, writePolicy } from '../helpers/triad.js';

/**
 * "2 media" can fail: the production data sits on a declared medium (`production.media`,
 * default disk) that counts like any target's, so copies that all share it are one medium.
 */
const dir = scratchDir('triad-media-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function policy(name: string, targetMedia: [string, string], extra: Record<string, unknown> = {}): string {
  const src = join(dir, 'src');
  mkdirSync(src, { recursive: true });
  return writePolicy(dir, {
    name,
    sources: [src],
    targets: {
      nas: { type: 'local', path: join(dir, name, 'nas'), media: targetMedia[0], offsite: false },
      cloud: { type: 'local', path: join(dir, name, 'cloud'), media: targetMedia[1], offsite: true },
    },
    extra,
  });
}

describe('the media rule', () => {
  it('NAS and cloud copies both declared disk, production on disk by default: policy check fails "distinct media" with exit 4 and backup refuses', () => {
    const file = policy('same', ['disk', 'disk']);
    const check = triad(['policy', 'check', file, '--json'], { env: PASS });
    expect(check.code, check.stderr).toBe(4);
    const out = JSON.parse(check.stdout) as { results: { matrix: { copies: { name: string; media: string }[]; requirements: { id: string; status: string; actual: number; reason: string }[] } }[] };
    const m = out.results[0]!.matrix;
    expect(m.copies[0]).toMatchObject({ name: 'production', media: 'disk' });
    const media = m.requirements.find((r) => r.id === 'media')!;
    expect(media).toMatchObject({ status: 'fail', actual: 1 });
    expect(media.reason).toContain('the production data is on disk, see production.media');
    const text = triad(['policy', 'check', file], { env: PASS });
    expect(text.stdout).toMatch(/distinct media.*1/);
    expect(triad(['init', '-p', file], { env: PASS }).code).toBe(0);
    const backup = triad(['backup', '-p', file], { env: PASS });
    expect(backup.code).not.toBe(0);
    expect(backup.stderr).toContain('distinct medi');
  });

  it('the same targets pass when the production data is declared on another medium, and a NAS + disk layout passes by default', () => {
    const declared = policy('declared', ['disk', 'disk'], { production: { media: 'ssd' } });
    const check = triad(['policy', 'check', declared], { env: PASS });
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(triad(['policy', 'check', policy('usual', ['nas', 'object-storage'])], { env: PASS }).code).toBe(0);
  });

  it('an unknown key under production is a policy error with a suggestion', () => {
    const bad = policy('bad', ['nas', 'disk'], { production: { medium: 'ssd' } });
    const r = triad(['policy', 'check', bad], { env: PASS });
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/production\.medium.*did you mean .?media/i);
  });
});
