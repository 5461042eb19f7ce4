import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { examples, makeContext, type CliInjections } from './context.js';
import { Output, plainAscii } from './output.js';
import { reportError } from './errors.js';
import { ExitCode, TriadError } from '../core/errors.js';
import { registerCommands } from './commands/index.js';
import { exitCodesHelp } from './help/exit-codes.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function buildProgram(ctx: ReturnType<typeof makeContext>): Command {
  const program = new Command('triad')
    .description('Backups that prove they follow the 3-2-1 rule and meet their RPO/RTO.')
    .version(version(), '-V, --version')
    .addOption(new Option('--json', 'machine-readable JSON output on stdout; warnings and progress as JSON lines on stderr'))
    .addOption(new Option('-q, --quiet', 'print only results and errors'))
    .addOption(new Option('-v, --verbose', 'more detail, including stack traces of internal errors'))
    .addOption(new Option('--no-color', 'no colours even on a terminal (NO_COLOR is honoured too)'))
    .addOption(new Option('--utc', "show times in UTC instead of the policy's timezone (JSON is always ISO 8601 UTC)"))
    .addOption(new Option('--catalog <file>', 'SQLite catalogue to use (overrides the policy and $TRIAD_CATALOG)'))
    .addOption(new Option('--retry-for <duration>', 'how long a target may keep failing transiently before it is given up (default 60s)'))
    .addOption(new Option('--limit-upload <rate>', "upload limit per target, e.g. 10MiB/s (overrides the policy's upload_limit)"))
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      outputError: (str, write) => write(str),
      // Help and usage errors follow the same rule as every other output: ASCII off a terminal.
      writeOut: (str) => process.stdout.write(process.stdout.isTTY ? str : plainAscii(str)),
      writeErr: (str) => process.stderr.write(process.stderr.isTTY ? str : plainAscii(str)),
    });
  program.addHelpText('after', `\n${exitCodesHelp()}`);
  examples(program, ['triad policy check policies/*.yaml', 'triad init -p policies/demo.yaml', 'triad backup -p policies/demo.yaml', 'triad snapshots -p policies/demo.yaml --json']);
  registerCommands(program, ctx);
  for (const c of program.commands) propagate(c);
  return program;
}

function propagate(cmd: Command): void {
  cmd.exitOverride().showHelpAfterError('(run with --help for usage)');
  for (const c of cmd.commands) propagate(c);
}

/** Runs one command line; `injected` is for the test entry only (bin/triad passes none). */
export async function main(argv: string[], env: NodeJS.ProcessEnv, injected: CliInjections = {}): Promise<number> {
  const controller = new AbortController();
  let exitCode = 0;
  let signalled: number | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalled !== undefined) process.exit(sig === 'SIGINT' ? ExitCode.SIGINT : ExitCode.SIGTERM);
    signalled = sig === 'SIGINT' ? ExitCode.SIGINT : ExitCode.SIGTERM;
    process.stderr.write(`\ntriad: ${sig} received, stopping cleanly (send again to force)\n`);
    // What the work stopped by it throws: a clean interruption, reported as such.
    controller.abort(new TriadError('E_INTERRUPTED', `interrupted by ${sig}`, { exitCode: signalled }));
  };
  // A closed pipe on stdout (`triad ls … | head`) ends the command quietly, like SIGPIPE
  // ends `cat`: the work stops cleanly (locks released) and the exit status is 141.
  // Other errors reach stdout only from a stream piped into it (dump's tar), which reports them itself.
  const onStdoutError = (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' || signalled !== undefined) return;
    signalled = ExitCode.SIGPIPE;
    controller.abort(new Error('EPIPE'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.stdout.on('error', onStdoutError);
  const ctx = makeContext(env, process.cwd(), controller.signal, (c) => (exitCode = c), injected);
  const program = buildProgram(ctx);
  let code: number;
  try {
    await program.parseAsync(argv);
    code = exitCode;
  } catch (err) {
    code = failureCode(err, argv, env, () => signalled === ExitCode.SIGPIPE);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  // A write to a closed pipe fails a moment after it was made: let that surface first.
  await new Promise((r) => setImmediate(r));
  process.stdout.off('error', onStdoutError);
  // Writes still queued may fail after main returns: keep them quiet.
  process.stdout.on('error', () => undefined);
  return signalled ?? code;
}

/** The exit code of a command line that threw; prints the error unless nobody reads the output any more. */
function failureCode(err: unknown, argv: string[], env: NodeJS.ProcessEnv, pipeClosed: () => boolean): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
    // Help shown because no command was given (bare `triad`): on stderr, a usage error.
    if (err.code === 'commander.help') return err.exitCode === 0 ? 0 : ExitCode.USAGE;
    return ExitCode.USAGE;
  }
  if (pipeClosed()) return ExitCode.SIGPIPE;
  const json = argv.includes('--json');
  const out = new Output({ json, quiet: false, verbose: argv.includes('-v') || argv.includes('--verbose'), color: !argv.includes('--no-color') }, { env });
  return reportError(err, out);
}

// The pinned AWS SDK warns on every run that its later releases need Node 22; we pin it on purpose.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
