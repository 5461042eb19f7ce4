import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { TriadError, fsError } from '../../core/errors.js';
import type { SampleSpec } from '../../policy/types.js';
import type { CliContext } from '../context.js';
import { examples } from '../context.js';
import { appContext, collect, readConcurrencyOption } from './app-context.js';

interface RestoreTestCliOptions {
  policy: string;
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
  examples(
    program
      .command('restore-test')
      .description('restore a random sample from every target into a scratch directory and verify every byte')
      .addOption(new Option('-p, --policy <file>', 'policy file (YAML)').makeOptionMandatory())
      .option('--target <name>', 'only this target (repeatable)', collect)
      .addOption(new Option('--sample <pct>', "sample this percentage of each snapshot's files (default: the policy's restore_test)").conflicts(['files', 'bytes']))
      .addOption(new Option('--files <n>', 'sample this many files').conflicts(['sample', 'bytes']))
      .addOption(new Option('--bytes <size>', 'sample files up to this many bytes, e.g. 2GiB').conflicts(['sample', 'files']))
      .option('--snapshots <which>', 'latest | random:N | all (default: the latest and one random older one)')
      .option('--seed <n>', 'seed of the random sample (printed and recorded when chosen at random)')
      .option('--scratch <dir>', 'directory for the scratch copy (default: the system temp dir; always removed)')
      .option('--max-bytes <size>', 'most bytes the sample may put in scratch (default: restore_test.max_bytes, else 1GiB)')
      .option('--junit <file>', 'write a JUnit XML report: one test suite per target, one test case per file')
      .option('--compare-source', 'also compare with the live source file where size and mtime show it unchanged')
      .addOption(readConcurrencyOption())
      .action(async (o: RestoreTestCliOptions, cmd: Command) => {
        const out = ctx.output(cmd);
        const { parsePercent, parseSize } = await import('../../policy/units.js');
        const { freshSeed } = await import('../../core/random.js');
        const { runRestoreTest, parseSnapshotSelector } = await import('../../app/restore-test.js');
        let sample: SampleSpec | undefined;
        if (o.sample !== undefined) sample = { kind: 'percent', value: parseWith('--sample', /%\s*$/.test(o.sample) ? o.sample : `${o.sample}%`, parsePercent) };
        if (o.files !== undefined) {
          const n = Number(o.files);
          if (!Number.isInteger(n) || n < 1) throw new TriadError('E_USAGE', `--files ${o.files} is not a whole number of at least 1`);
          sample = { kind: 'files', value: n };
        }
        if (o.bytes !== undefined) sample = { kind: 'bytes', value: parseWith('--bytes', o.bytes, parseSize) };
        const maxBytes = o.maxBytes !== undefined ? parseWith('--max-bytes', o.maxBytes, parseSize) : undefined;
        let seed: number;
        if (o.seed !== undefined) {
          seed = Number(o.seed);
          if (!/^\d+$/.test(o.seed) || !Number.isSafeInteger(seed) || seed > 0xffffffff) throw new TriadError('E_USAGE', `--seed ${o.seed} is not a whole number from 0 to 4294967295`);
        } else seed = freshSeed();
        const app = appContext(ctx, cmd, out, 'opening targets and loading indexes…');
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
    ],
  );
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
