import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isTriadError } from '../../src/core/errors.js';
import { resolvePassphrase, resolvePassphraseWithWarnings } from '../../src/policy/secrets.js';
import { eventText } from '../../src/cli/render/events.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'triad-secrets-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const SECRET = 'sw0rdfish-Λ-42';

/** The error must be E_PASSPHRASE_UNAVAILABLE, mention `names`, and never contain the secret. */
async function expectUnavailable(p: Promise<unknown>, names: string): Promise<void> {
  await expect(p).rejects.toSatisfy((e: unknown) => {
    if (!isTriadError(e, 'E_PASSPHRASE_UNAVAILABLE')) return false;
    const text = `${e.message} ${e.hint ?? ''}`;
    return text.includes(names) && !text.includes(SECRET);
  });
}

describe('resolvePassphrase', () => {
  it('reads an environment variable', async () => {
    expect(await resolvePassphrase({ env: 'MY_PASS' }, { env: { MY_PASS: SECRET }, cwd: tmp })).toBe(SECRET);
  });

  it('names an unset or empty variable', async () => {
    await expectUnavailable(resolvePassphrase({ env: 'MY_PASS' }, { env: {}, cwd: tmp }), 'MY_PASS');
    await expectUnavailable(resolvePassphrase({ env: 'MY_PASS' }, { env: { MY_PASS: '' }, cwd: tmp }), 'MY_PASS');
  });

  it('reads a file, trimming exactly one trailing newline, relative to cwd', async () => {
    writeFileSync(path.join(tmp, 'key'), `${SECRET} \n`, { mode: 0o600 });
    chmodSync(path.join(tmp, 'key'), 0o600);
    const r = await resolvePassphraseWithWarnings({ file: 'key' }, { env: {}, cwd: tmp });
    expect(r).toEqual({ passphrase: `${SECRET} `, warnings: [] });
    writeFileSync(path.join(tmp, 'key2'), `${SECRET}\n\n`, { mode: 0o600 });
    expect(await resolvePassphrase({ file: path.join(tmp, 'key2') }, { env: {}, cwd: '/' })).toBe(`${SECRET}\n`);
  });

  it('warns when the file is readable by group or others, without the secret', async () => {
    const f = path.join(tmp, 'open-key');
    writeFileSync(f, SECRET);
    chmodSync(f, 0o644);
    const r = await resolvePassphraseWithWarnings({ file: f }, { env: {}, cwd: tmp });
    expect(r.passphrase).toBe(SECRET);
    expect(r.warnings).toHaveLength(1);
    expect(eventText(r.warnings[0]!)).toContain('chmod 600');
    expect(eventText(r.warnings[0]!)).not.toContain(SECRET);
  });

  it('names a missing or empty file', async () => {
    await expectUnavailable(resolvePassphrase({ file: 'missing.key' }, { env: {}, cwd: tmp }), path.join(tmp, 'missing.key'));
    writeFileSync(path.join(tmp, 'empty'), '\n', { mode: 0o600 });
    await expectUnavailable(resolvePassphrase({ file: 'empty' }, { env: {}, cwd: tmp }), 'is empty');
  });

  it('runs a command through a shell with the given env and cwd, trimming stdout', async () => {
    writeFileSync(path.join(tmp, 'here.txt'), 'x');
    const p = await resolvePassphrase({ command: 'test -f here.txt && printf "  %s\\n" "$PASS_SRC"' }, { env: { PASS_SRC: SECRET, PATH: '/usr/bin:/bin' }, cwd: tmp });
    expect(p).toBe(SECRET);
  });

  it('reports a failing command with its exit code and stderr, never its stdout', async () => {
    const cmd = `echo ${SECRET}; echo "gpg: decryption failed" >&2; exit 3`;
    await expect(resolvePassphrase({ command: cmd }, { env: { PATH: '/usr/bin:/bin' }, cwd: tmp })).rejects.toSatisfy(
      (e: unknown) =>
        isTriadError(e, 'E_PASSPHRASE_UNAVAILABLE') && e.message.includes('exit code 3') && e.message.includes('gpg: decryption failed') && !e.message.replace(cmd, '').includes(SECRET),
    );
  });

  it('stops a command that hangs, after the timeout', async () => {
    const started = process.hrtime.bigint();
    await expectUnavailable(resolvePassphrase({ command: 'sleep 20' }, { env: { PATH: '/usr/bin:/bin' }, cwd: tmp, timeoutMs: 300 }), 'did not finish within');
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(5000);
  });

  it('refuses a command that prints nothing', async () => {
    await expectUnavailable(resolvePassphrase({ command: 'true' }, { env: { PATH: '/usr/bin:/bin' }, cwd: tmp }), 'printed nothing');
  });

  it('refuses zero or several sources', async () => {
    await expectUnavailable(resolvePassphrase({}, { env: {}, cwd: tmp }), 'exactly one source');
    await expectUnavailable(resolvePassphrase({ env: 'A', file: 'b' }, { env: { A: SECRET }, cwd: tmp }), 'exactly one source');
  });
});
