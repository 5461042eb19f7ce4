import type { Command } from 'commander';
import { examples, type CliContext } from '../context.js';
import { table, type Output } from '../output.js';
import { systemClock } from '../../core/clock.js';
import { ExitCode } from '../../core/errors.js';
import type { PolicyCheckResult } from '../../app/policy-check.js';

/** `triad policy check FILE...`: exit 0 all pass, 4 a valid policy violates its rule, 2 any file invalid (2 wins). */
export function registerPolicy(program: Command, ctx: CliContext): void {
  const policy = program.command('policy').description('validate policy files and show their 3-2-1 matrix');
  examples(policy, ['triad policy check policies/demo.yaml', 'triad policy check policies/*.yaml --json']);
  const check = policy
    .command('check')
    .description('validate policy files and print the 3-2-1 matrix of each (exit 0 pass, 4 rule violated, 2 invalid file)')
    .argument('<file...>', 'policy files (YAML, version 1)')
    .action(async (files: string[], _opts: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const { checkPolicies } = await import('../../app/policy-check.js');
      const results = await checkPolicies(files, { env: ctx.env, cwd: ctx.cwd, now: (ctx.injected.clock ?? systemClock).now() });
      const exitCode = policyCheckExitCode(results);
      if (out.json) out.emitJson({ ok: exitCode === ExitCode.OK, exitCode, results });
      else render(results, out);
      ctx.setExitCode(exitCode);
    });
  examples(check, [
    'triad policy check policies/demo.yaml',
    'triad policy check /etc/triad/*.yaml',
    'triad policy check policies/*.yaml --json | jq \'.results[] | {file, verdict}\'',
  ]);
}

export function policyCheckExitCode(results: readonly PolicyCheckResult[]): number {
  if (results.some((r) => !r.valid)) return ExitCode.USAGE;
  if (results.some((r) => r.verdict === 'fail')) return ExitCode.FINDING;
  return ExitCode.OK;
}

const yesNo = (b: boolean): string => (b ? 'yes' : 'no');

function render(results: readonly PolicyCheckResult[], out: Output): void {
  const { c } = out;
  const label = { pass: c.green('PASS'), fail: c.red('FAIL'), off: c.yellow('OFF'), invalid: c.red('INVALID') } as const;
  for (const [i, r] of results.entries()) {
    if (i > 0) out.line();
    if (!r.valid || !r.matrix || !r.policy) {
      const n = r.problems?.length ?? 0;
      out.result(`${c.bold(r.file)}: ${label.invalid} (${n} ${n === 1 ? 'problem' : 'problems'})`);
      for (const p of r.problems ?? []) {
        out.result(`  ${p.line > 0 ? `${p.file}:${p.line}:${p.column}: ` : `${p.file}: `}${p.path ? `${p.path}: ` : ''}${p.message}`);
        const detail = [p.expected !== undefined ? `expected ${p.expected}` : '', p.found !== undefined ? `found ${p.found}` : ''].filter(Boolean).join('; ');
        if (detail) out.result(c.dim(`      ${detail}`));
      }
      continue;
    }
    const m = r.matrix;
    out.result(`${c.bold(r.file)}: policy ${r.policy.name}, rule ${m.rule}: ${label[m.verdict]}${m.verdict === 'fail' ? ` — ${m.summary}` : ''}`);
    out.line(
      indent(
        table(
          m.copies.map((row) => [row.name, row.type, row.media, yesNo(row.offsite), row.immutable ? 'immutable' : row.offline ? 'offline' : 'no']),
          { header: ['copy', 'type', 'media', 'off-site', 'immutable/offline'] },
        ),
      ),
    );
    out.line();
    out.line(
      indent(
        table(
          m.requirements.map((q) => [
            q.label,
            q.actual === null ? '-' : String(q.actual),
            q.required === null ? (q.status === 'runtime' ? '0' : '-') : String(q.required),
            q.status === 'pass' ? c.green('pass') : q.status === 'fail' ? c.red('fail') : q.status === 'runtime' ? c.dim('at run time') : c.yellow('off'),
            q.reason,
          ]),
          { header: ['requirement', 'count', 'required', 'verdict', 'reason'], align: ['l', 'r', 'r', 'l', 'l'] },
        ),
      ),
    );
    if (r.warnings?.length) {
      out.line();
      for (const w of r.warnings) out.warn(`${r.file}: ${w}`);
    }
    if (r.immutability?.length) {
      out.line();
      out.line('  immutable copies — what the storage must have enabled (not checked: policy check does not connect):');
      for (const n of r.immutability) {
        out.line(`    ${c.bold(n.target)} (${n.type}, ${n.where})`);
        out.line(`      triad sets: ${n.triadSets ?? 'nothing'}`);
        for (const req of n.requirements) out.line(`      - ${req}`);
      }
    }
  }
  if (results.length > 1) {
    const n = (v: PolicyCheckResult['verdict']) => results.filter((r) => r.verdict === v).length;
    out.line();
    out.result(`${results.length} policies: ${n('pass')} pass, ${n('fail')} fail, ${n('invalid')} invalid${n('off') ? `, ${n('off')} rule off` : ''}`);
  }
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => '  ' + l)
    .join('\n');
}
