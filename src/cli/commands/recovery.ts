import { Option, type Command } from 'commander';
import type { CliContext } from '../context.js';
import { examples } from '../context.js';
import { formatDuration, table, type Output } from '../output.js';
import { appContext, collect } from './app-context.js';
import { eventReporter } from '../progress.js';
import { TriadError } from '../../core/errors.js';
import { promptSecret, repoAccessOf, withRepoAccessOptions } from './repo-access.js';

/** Disaster recovery: `catalog rebuild|verify` and `key list|add|remove|passwd`. */
export function registerRecovery(program: Command, ctx: CliContext): void {
  const catalog = examples(program.command('catalog').description('rebuild the SQLite catalogue from a repository, or compare the two'), [
    'triad catalog rebuild -p /etc/triad/finance.yaml --target cloud',
    'triad catalog verify -p /etc/triad/finance.yaml',
  ]);

  examples(
    withRepoAccessOptions(catalog
      .command('rebuild')
      .description('rebuild the catalogue from one target alone (snapshots, files, packs, run history); resumable')
      .option('-p, --policy <file>', 'policy file (YAML)')
      .option('--target <name>', 'the target to read (with -p); with --repo, the name to record it under')
      .option('--repo <url>', 'without a policy: s3://bucket/prefix, azure://container/prefix, gcs://bucket/prefix or a local path'))
      .option('--only-policy <name>', 'with --repo: import only this policy (default: every policy in the repository)')
      .action(async (o: { policy?: string; target?: string; repo?: string; passphraseEnv?: string; passphraseFile?: string; endpoint?: string; region?: string; checksums?: 'when_supported' | 'when_required'; onlyPolicy?: string }, cmd: Command) => {
        const out = ctx.output(cmd);
        if (!o.policy && !o.repo) throw new TriadError('E_USAGE', 'give a policy (-p POLICY --target NAME) or a repository (--repo URL)');
        if (o.policy && o.repo) throw new TriadError('E_USAGE', 'give either -p POLICY or --repo URL, not both');
        const repo = o.repo ? { ...(await repoAccessOf(o.repo, o, out)), policy: o.onlyPolicy } : undefined;
        const app = appContext(ctx, cmd, out, 'opening the repository…');
        const { rebuildCatalog } = await import('../../app/catalog-rebuild.js');
        const r = await rebuildCatalog(app, { policyFile: o.policy, target: o.target, repo }).finally(() => app.stopProgress());
        ctx.setExitCode(r.exitCode);
        if (out.json) return out.emitJson(r);
        out.result(`catalogue ${r.catalog} rebuilt from target '${r.target}' (${r.location}), repository ${r.repositoryId}`);
        out.line(`policies: ${r.policies.join(', ') || 'none'}`);
        out.line(`snapshots: ${r.snapshots.imported} imported, ${r.snapshots.skipped} already there (${r.snapshots.total} in the repository); ${r.files} file rows`);
        out.line(`packs: ${r.packs} new rows (the index lists ${r.blobs} blobs)`);
        out.line(`runs: ${r.runs.imported} imported from the journal, ${r.runs.skipped} skipped; restore tests: ${r.restoreTests}`);
        if (r.ledgerEntries) out.line(`${r.ledgerEntries} pack verification(s) restored from the journal's ledger`);
        if (r.journalPresence) out.line(`${r.journalPresence} copies on other targets known from the journal only, recorded as missing until 'catalog rebuild --target OTHER' confirms them`);
        for (const d of r.runs.damaged) out.warn(`journal record ${d.id.slice(0, 12)} is damaged and was skipped: ${d.error}`);
        out.line(`done in ${formatDuration(r.durationMs)}`);
      }),
    [
      'triad catalog rebuild -p /etc/triad/finance.yaml --target cloud',
      'AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… triad catalog rebuild --repo s3://acme-backups/finance/ --target cloud --passphrase-file /root/finance.key',
      'triad catalog rebuild --repo /mnt/usb/triad/finance --passphrase-env TRIAD_PASSPHRASE --catalog /var/lib/triad/catalog.db',
    ],
  );

  examples(
    catalog
      .command('verify')
      .description('compare the catalogue with the targets and list the drift (exit 1 on drift)')
      .addOption(new Option('-p, --policy <file>', 'policy file (YAML)').makeOptionMandatory())
      .option('--target <name>', 'only this target (repeatable)', collect)
      .action(async (o: { policy: string; target?: string[] }, cmd: Command) => {
        const out = ctx.output(cmd);
        const app = appContext(ctx, cmd, out);
        const { verifyCatalog } = await import('../../app/catalog-verify.js');
        const r = await verifyCatalog(app, { policyFile: o.policy, targets: o.target });
        if (out.json) out.emitJson(r);
        else {
          for (const t of r.targets) {
            if (!t.ok) out.result(`${out.mark(false)} ${t.name}: cannot be read: ${t.error}`);
            else out.result(`${out.mark(t.drift.length === 0)} ${t.name}: ${t.snapshots} snapshots, ${t.packs} packs, ${t.drift.length} difference(s)`);
            if (t.sharedWith) out.result(`  shared with ${t.sharedWith.join(', ')}: their snapshots are not compared, and ${t.unattributedPacks} indexed pack(s) unknown to this catalogue are taken as theirs`);
            for (const d of t.drift.slice(0, 200)) out.result(`  ${d.kind}: ${d.message}`);
            if (t.drift.length > 200) out.result(`  … and ${t.drift.length - 200} more (see --json)`);
          }
          if (r.drift) out.line(`run 'triad catalog rebuild -p ${o.policy} --target NAME' to bring the catalogue up to date`);
        }
        ctx.setExitCode(r.exitCode);
      }),
    ['triad catalog verify -p /etc/triad/finance.yaml', 'triad catalog verify -p /etc/triad/finance.yaml --target cloud --json'],
  );

  const key = examples(program.command('key').description('manage the passphrases of a repository (every target of the policy keeps the same key files)'), [
    'triad key list -p /etc/triad/finance.yaml',
    'triad key add -p /etc/triad/finance.yaml --new-passphrase-file /root/safe.key',
  ]);
  const policyOpt = () => new Option('-p, --policy <file>', 'policy file (YAML)').makeOptionMandatory();
  const newPassOpts = (c: Command) =>
    c.option('--new-passphrase-env <var>', 'environment variable holding the new passphrase').option('--new-passphrase-file <file>', 'file holding the new passphrase');

  examples(
    key
      .command('list')
      .description('list the key files of every target and mark the one the passphrase opens')
      .addOption(policyOpt())
      .option('--target <name>', 'only this target (repeatable)', collect)
      .action(async (o: { policy: string; target?: string[] }, cmd: Command) => {
        const out = ctx.output(cmd);
        const app = appContext(ctx, cmd, out);
        const { listKeys } = await import('../../app/keys.js');
        const r = await listKeys(app, { policyFile: o.policy, targets: o.target });
        if (out.json) out.emitJson(r);
        else {
          for (const t of r.targets) {
            if (!t.ok && t.keys.length === 0) {
              out.result(`${t.name}: ${out.c.red('cannot be read')}: ${t.error}`);
              continue;
            }
            out.result(`${t.name} (${t.location}):`);
            out.result(table(t.keys.map((k) => [k.current ? '*' : ' ', k.id.slice(0, 16), k.created ? out.time(k.created, r.timezone) : '?', k.host ?? '?', k.username ?? '', k.unreadable ? `damaged: ${k.damage}` : `scrypt N=${k.kdf?.N}`]), { header: [' ', 'id', 'created', 'host', 'user', 'kdf'] }));
            if (!t.ok) out.warn(`${t.name}: ${t.error}`);
          }
          if (!r.consistent) out.warn('the targets hold different key files: run `triad key add` with the missing passphrase, or remove the extra key');
        }
        ctx.setExitCode(r.exitCode);
      }),
    ['triad key list -p /etc/triad/finance.yaml', 'triad key list -p /etc/triad/finance.yaml --json'],
  );

  examples(
    key
      .command('verify')
      .description('prove that a passphrase (the one in the safe, an escrow copy) opens every target, and record the proof for reports')
      .addOption(policyOpt())
      .option('--target <name>', 'only this target (repeatable)', collect)
      .option('--passphrase-env <var>', 'the passphrase to prove is in this environment variable')
      .option('--passphrase-file <file>', 'the passphrase to prove is in this file')
      .action(async (o: { policy: string; target?: string[]; passphraseEnv?: string; passphraseFile?: string }, cmd: Command) => {
        const out = ctx.output(cmd);
        const passphrase = await passphraseToProve(ctx, out, o);
        const app = appContext(ctx, cmd, out);
        const { verifyKey } = await import('../../app/keys.js');
        const r = await verifyKey(app, { policyFile: o.policy, targets: o.target, passphrase });
        if (out.json) out.emitJson(r);
        else {
          for (const t of r.targets) out.result(t.ok ? `${out.mark(true)} ${t.name}: opens key ${t.key!.slice(0, 16)}` : `${out.mark(false)} ${t.name}: ${t.error}`);
          out.line(r.exitCode === 0 ? `proof recorded at ${r.at}: the passphrase opens every selected target` : 'the passphrase does not open every selected target; the failed proof is recorded');
        }
        ctx.setExitCode(r.exitCode);
      }),
    ['SAFE_PASS=… triad key verify -p /etc/triad/finance.yaml --passphrase-env SAFE_PASS', 'triad key verify -p /etc/triad/finance.yaml --passphrase-file /mnt/escrow/finance.key', 'triad key verify -p /etc/triad/finance.yaml   # asks on a terminal'],
  );

  examples(
    newPassOpts(
      key
        .command('add')
        .description('add a passphrase (a new key file) to every target')
        .addOption(policyOpt())
        .option('--target <name>', 'only this target (repeatable)', collect),
    ).action(async (o: { policy: string; target?: string[]; newPassphraseEnv?: string; newPassphraseFile?: string }, cmd: Command) => {
      const out = ctx.output(cmd);
      const newPassphrase = await newPassphraseFrom(ctx, out, o);
      const app = appContext(ctx, cmd, out);
      const { addKey } = await import('../../app/keys.js');
      const r = await addKey(app, { policyFile: o.policy, targets: o.target, newPassphrase });
      renderChange(out, r);
      ctx.setExitCode(r.exitCode);
    }),
    ['SAFE_PASS=… triad key add -p /etc/triad/finance.yaml --new-passphrase-env SAFE_PASS', 'triad key add -p /etc/triad/finance.yaml   # asks twice on a terminal'],
  );

  examples(
    key
      .command('remove')
      .description('remove a key file from every target (never the last one, nor the one in use)')
      .addOption(policyOpt())
      .argument('<id>', 'key id or a unique prefix of 8+ hex characters (see key list)')
      .option('--target <name>', 'only this target (repeatable)', collect)
      .action(async (id: string, o: { policy: string; target?: string[] }, cmd: Command) => {
        const out = ctx.output(cmd);
        const app = appContext(ctx, cmd, out);
        const { removeKey } = await import('../../app/keys.js');
        const r = await removeKey(app, { policyFile: o.policy, targets: o.target, id });
        renderChange(out, r);
        ctx.setExitCode(r.exitCode);
      }),
    ['triad key remove -p /etc/triad/finance.yaml 3fa2c1d0'],
  );

  examples(
    newPassOpts(
      key
        .command('passwd')
        .description('change the passphrase: add a key for the new one, then remove the one the current passphrase opens')
        .addOption(policyOpt())
        .option('--target <name>', 'only this target (repeatable)', collect),
    ).action(async (o: { policy: string; target?: string[]; newPassphraseEnv?: string; newPassphraseFile?: string }, cmd: Command) => {
      const out = ctx.output(cmd);
      const newPassphrase = await newPassphraseFrom(ctx, out, o);
      const app = appContext(ctx, cmd, out);
      const { changePassphrase } = await import('../../app/keys.js');
      const r = await changePassphrase(app, { policyFile: o.policy, targets: o.target, newPassphrase });
      renderChange(out, r);
      if (r.exitCode === 0 && !out.json) out.line('now update the passphrase source the policy names (passphrase_env / _file / _command)');
      ctx.setExitCode(r.exitCode);
    }),
    ['NEW=… triad key passwd -p /etc/triad/finance.yaml --new-passphrase-env NEW'],
  );
}

function renderChange(out: Output, r: { action: string; added?: string; removed?: string; targets: { name: string; status: string; error?: string }[] }): void {
  if (out.json) return out.emitJson(r);
  if (r.added) out.result(`key ${r.added} ${r.action === 'passwd' ? 'now holds the new passphrase' : 'added'}`);
  if (r.removed) out.result(`key ${r.removed} removed`);
  out.line(table(r.targets.map((t) => [t.name, t.status === 'failed' ? out.c.red(t.status) : out.c.green(t.status), t.error ?? '']), { header: ['target', 'result', 'error'] }));
}

/** The passphrase `key verify` proves: from --passphrase-env/--passphrase-file, or asked on the terminal. */
async function passphraseToProve(ctx: CliContext, out: Output, o: { passphraseEnv?: string; passphraseFile?: string }): Promise<string> {
  if (o.passphraseEnv && o.passphraseFile) throw new TriadError('E_USAGE', 'give --passphrase-env or --passphrase-file, not both');
  if (o.passphraseEnv || o.passphraseFile) return secretFrom(ctx, out, o.passphraseEnv ? { env: o.passphraseEnv } : { file: o.passphraseFile! });
  return promptSecret(out, 'passphrase to verify: ');
}

async function secretFrom(ctx: CliContext, out: Output, spec: { env: string } | { file: string }): Promise<string> {
  const { resolvePassphraseWithWarnings } = await import('../../policy/secrets.js');
  const r = await resolvePassphraseWithWarnings(spec, { env: ctx.env, cwd: ctx.cwd, signal: ctx.signal });
  const report = eventReporter(out);
  for (const w of r.warnings) report.emit(w);
  return r.passphrase;
}

async function newPassphraseFrom(ctx: CliContext, out: Output, o: { newPassphraseEnv?: string; newPassphraseFile?: string }): Promise<string> {
  if (o.newPassphraseEnv && o.newPassphraseFile) throw new TriadError('E_USAGE', 'give --new-passphrase-env or --new-passphrase-file, not both');
  if (o.newPassphraseEnv || o.newPassphraseFile) return secretFrom(ctx, out, o.newPassphraseEnv ? { env: o.newPassphraseEnv } : { file: o.newPassphraseFile! });
  const first = await promptSecret(out, 'new passphrase: ');
  const second = await promptSecret(out, 'new passphrase again: ');
  if (first !== second) throw new TriadError('E_USAGE', 'the two passphrases differ', { hint: 'run the command again' });
  return first;
}
