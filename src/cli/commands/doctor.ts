import { Option, type Command } from 'commander';
import { examples, type CliContext } from '../context.js';
import type { Output } from '../output.js';
import { appContext } from './app-context.js';
import type { DoctorCheck, DoctorResult } from '../../app/doctor.js';

/** `triad doctor -p POLICY`: one verdict per check; exit 0 when nothing FAILs, 1 otherwise. */
export function registerDoctor(program: Command, ctx: CliContext): void {
  examples(
    program
      .command('doctor')
      .description('check a setup before trusting it: policy, passphrase, targets (reachable, writable, clock, space), catalogue, key strength, locks, schedules and last runs (exit 0 nothing failed, 1 a check failed)')
      .addOption(new Option('-p, --policy <file>', 'policy file (YAML)').makeOptionMandatory())
      .action(async (o: { policy: string }, cmd: Command) => {
        const out = ctx.output(cmd);
        const app = appContext(ctx, cmd, out);
        const { runDoctor } = await import('../../app/doctor.js');
        const r = await runDoctor(app, { policyFile: o.policy });
        if (out.json) out.emitJson(r);
        else render(out, r);
        ctx.setExitCode(r.exitCode);
      }),
    ['triad doctor -p /etc/triad/finance.yaml', 'triad doctor -p /etc/triad/finance.yaml --json | jq \'.checks[] | select(.verdict != "ok")\''],
  );
}

function render(out: Output, r: DoctorResult): void {
  const label = (c: DoctorCheck): string => {
    const text = { ok: 'ok', warn: 'WARN', fail: 'FAIL', 'n/a': 'n/a' }[c.verdict].padEnd(4);
    return c.verdict === 'ok' ? out.c.green(text) : c.verdict === 'warn' ? out.c.yellow(text) : c.verdict === 'fail' ? out.c.red(text) : out.c.dim(text);
  };
  for (const c of r.checks) {
    const what = c.subject ? `${c.check} ${c.subject}` : c.check;
    const when = c.at ? ` (started ${out.time(c.at, r.timezone)})` : '';
    out.result(`${label(c)}  ${what}: ${c.message}${when}`);
    if (c.hint) out.result(out.c.dim(`      hint: ${c.hint}`));
  }
  const n = (v: DoctorCheck['verdict']) => r.checks.filter((c) => c.verdict === v).length;
  out.line(`${r.policy ? `policy ${r.policy}` : r.file}: ${n('fail')} failed, ${n('warn')} warning(s), ${n('ok')} ok`);
}
