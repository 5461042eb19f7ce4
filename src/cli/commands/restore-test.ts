import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { TriadError, fsError } from '../../core/errors.js';
import type { SampleSpec } from '../../policy/types.js';
import type { CliContext } from '../context.js';
import { examples } from '../context.js';
import { allHostsOption, appContext, collect, hostOption, readConcurrencyOption } from './app-context.js';
import { repoAccessOf, withRepoAccessOptions, type RepoAccessCliOptions } from './repo-access.js';
import type { Output } from '../output.js';

interface RestoreTestCliOptions extends RepoAccessCliOptions {
  policy?: string;
  repo?: string;
  host?: string;
  allHosts?: boolean;
  target?: string[];
  sample?: string;
  files?: string;
  bytes?: string;
  snapshots?: string;
  seed?: string;
  scratch?: string;
  junit?: string;
  compareSource?: boolean;
  maxBytes?: string;
}

export function registerRestoreTest(program: Command, ctx: CliContext): void {
  const cmd = program
      .command('restore-test')
      .description('restore a random sample from every target into a scratch directory and verify every byte; with --repo: the latest snapshot of every host × policy in one repository')
      .option('-p, --policy <file>', 'policy file (YAML)')
      .option('--target <name>', "only this target (repeatable); with --repo: the name the hosts' policies give the repository, recorded with the results (default: the URL's scheme)", collect)
      .addOption(new Option('--sample <pct>', "sample this percentage of each snapshot's files (default: the policy's restore_test)").conflicts(['files', 'bytes']))
      .addOption(new Option('--files <n>', 'sample this many files').conflicts(['sample', 'bytes']))
      .addOption(new Option('--bytes <size>', 'sample files up to this many bytes, e.g. 2GiB').conflicts(['sample', 'files']))
      .option('--snapshots <which>', 'latest | random:N | all (default: the latest and one random older one)')
      .option('--seed <n>', 'seed of the random sample (printed and recorded when chosen at random)')
      .option('--scratch <dir>', 'directory for the scratch copy (default: the system temp dir; always removed)')
      .option('--max-bytes <size>', 'most bytes the sample may put in scratch (default: restore_test.max_bytes, else 1GiB)')
      .option('--junit <file>', 'write a JUnit XML report: one test suite per target (with --repo: per host × policy), one test case per file')
      .option('--compare-source', 'also compare with the live source file where size and mtime show it unchanged')
      .addOption(readConcurrencyOption());
  withRepoAccessOptions(cmd.option('--repo <url>', 'without a policy: s3://bucket/prefix, azure://container/prefix, gcs://bucket/prefix or a local path shared by many hosts'))
    .addOption(hostOption('with --repo: the latest snapshot of each policy'))
    .addOption(allHostsOption('with --repo: the latest snapshot of each policy'));
  examples(
    cmd.action(async (o: RestoreTestCliOptions, c: Command) => {
        const out = ctx.output(c);
        const { sample, maxBytes, seed } = await sampling(o);
        if (o.repo !== undefined || o.policy === undefined) return fleetRestoreTest(ctx, c, out, o, { sample, maxBytes, seed });
        const { runRestoreTest, parseSnapshotSelector } = await import('../../app/restore-test.js');
        const app = appContext(ctx, c, out, 'opening targets and loading indexes…');
        if (!out.json) out.info(`restore-test seed: ${seed}`);
        const r = await runRestoreTest(app, {
          policyFile: o.policy,
          targets: o.target,
          sample,
          snapshots: o.snapshots !== undefined ? parseSnapshotSelector(o.snapshots) : undefined,
          seed,
          scratch: o.scratch ?? tmpdir(),
          maxBytes,
          compareSource: o.compareSource,
        }).finally(() => app.stopProgress());
        if (o.junit) {
          const { renderJunit } = await import('../render/restore-test.js');
          writeAtomically(resolve(ctx.cwd, o.junit), renderJunit(r));
        }
        if (out.json) out.emitJson(r);
        else {
          const { renderSummary } = await import('../render/restore-test.js');
          for (const line of renderSummary(r, out.c, (iso) => out.time(iso, r.timezone), { verbose: out.verbose })) out.result(line);
        }
        ctx.setExitCode(r.exitCode);
      }),
    [
      'triad restore-test -p policies/demo.yaml',
      'triad restore-test -p /etc/triad/finance.yaml --junit restore-test.xml --json > restore-test.json',
      'triad restore-test -p policies/demo.yaml --target cloud --files 50 --snapshots random:3 --seed 42',
      'triad restore-test -p policies/demo.yaml --bytes 2GiB --scratch /var/tmp --compare-source',
      'triad restore-test --repo s3://acme-backups/fleet/ --passphrase-file /root/fleet.key --all-hosts --target cloud --junit fleet.xml',
    ],
  );
}

interface Sampling {
  sample: SampleSpec | undefined;
  maxBytes: number | undefined;
  seed: number;
}

/** --sample/--files/--bytes, --max-bytes and --seed (a fresh seed when none is given). */
async function sampling(o: RestoreTestCliOptions): Promise<Sampling> {
  const { parsePercent, parseSize } = await import('../../policy/units.js');
  const { freshSeed } = await import('../../core/random.js');
  let sample: SampleSpec | undefined;
  if (o.sample !== undefined) sample = { kind: 'percent', value: parseWith('--sample', /%\s*$/.test(o.sample) ? o.sample : `${o.sample}%`, parsePercent) };
  if (o.files !== undefined) {
    const n = Number(o.files);
    if (!Number.isInteger(n) || n < 1) throw new TriadError('E_USAGE', `--files ${o.files} is not a whole number of at least 1`);
    sample = { kind: 'files', value: n };
  }
  if (o.bytes !== undefined) sample = { kind: 'bytes', value: parseWith('--bytes', o.bytes, parseSize) };
  const maxBytes = o.maxBytes !== undefined ? parseWith('--max-bytes', o.maxBytes, parseSize) : undefined;
  if (o.seed === undefined) return { sample, maxBytes, seed: freshSeed() };
  const seed = Number(o.seed);
  if (!/^\d+$/.test(o.seed) || !Number.isSafeInteger(seed) || seed > 0xffffffff) throw new TriadError('E_USAGE', `--seed ${o.seed} is not a whole number from 0 to 4294967295`);
  return { sample, maxBytes, seed };
}

/** `restore-test --repo URL --all-hosts | --host H`: every host × policy's latest snapshot, from the repository alone. */
async function fleetRestoreTest(ctx: CliContext, c: Command, out: Output, o: RestoreTestCliOptions, s: Sampling): Promise<void> {
  if (o.repo === undefined) throw new TriadError('E_USAGE', 'give a policy (-p POLICY) or a repository (--repo URL --all-hosts | --host H)');
  if (o.policy !== undefined) throw new TriadError('E_USAGE', 'give either -p POLICY or --repo URL, not both');
  if (o.host === undefined && !o.allHosts) throw new TriadError('E_USAGE', `say whose snapshots to test in ${o.repo}: --all-hosts or --host H`);
  const unsupported = (['snapshots', 'compareSource'] as const).filter((k) => o[k] !== undefined);
  if (unsupported.length > 0) throw new TriadError('E_USAGE', `${unsupported.map((k) => `--${k.replace(/[A-Z]/g, (x) => `-${x.toLowerCase()}`)}`).join(', ')}: not with --repo`, { hint: 'with --repo each host × policy\'s latest snapshot is tested' });
  if ((o.target?.length ?? 0) > 1) throw new TriadError('E_USAGE', 'with --repo, --target names the repository once');
  const repo = await repoAccessOf(o.repo, o, out);
  const app = appContext(ctx, c, out, 'opening the repository and loading its index…');
  if (!out.json) out.info(`restore-test seed: ${s.seed}`);
  const { runFleetRestoreTest } = await import('../../app/fleet-restore-test.js');
  const r = await runFleetRestoreTest(app, {
    repo,
    ...(o.host === undefined ? {} : { host: o.host }),
    ...(o.target?.[0] === undefined ? {} : { target: o.target[0] }),
    ...(s.sample === undefined ? {} : { sample: s.sample }),
    ...(s.maxBytes === undefined ? {} : { maxBytes: s.maxBytes }),
    seed: s.seed,
    scratch: o.scratch ?? tmpdir(),
  }).finally(() => app.stopProgress());
  if (o.junit) {
    const { renderFleetJunit } = await import('../render/restore-test.js');
    writeAtomically(resolve(ctx.cwd, o.junit), renderFleetJunit(r));
  }
  if (out.json) out.emitJson(r);
  else {
    const { renderSummary } = await import('../render/restore-test.js');
    for (const t of r.tests) {
      for (const line of renderSummary(t, out.c, (iso) => out.time(iso, 'UTC'), { verbose: out.verbose })) out.result(line);
      out.result('');
    }
    const bad = r.tests.filter((t) => !t.ok);
    out.result(bad.length === 0
      ? out.c.green(`${r.tests.length} host × policy sample(s) of ${r.location} restored intact; recorded in its journal under target '${r.target}'`)
      : out.c.red(`damage found in ${bad.map((t) => `${t.policy} on ${t.host ?? '?'}`).join(', ')} (${bad.length} of ${r.tests.length}); recorded in the journal of ${r.location} under target '${r.target}'`));
  }
  ctx.setExitCode(r.exitCode);
}

function parseWith(flag: string, value: string, parse: (v: string) => number): number {
  try {
    return parse(value);
  } catch (err) {
    throw new TriadError('E_USAGE', `${flag} ${value}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The report appears whole or not at all, so CI never reads half a file. */
function writeAtomically(file: string, content: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(tmp, content);
    renameSync(tmp, file);
  } catch (err) {
    throw fsError(err, file);
  }
}
