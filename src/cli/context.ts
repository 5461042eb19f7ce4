import type { Command } from 'commander';
import { Output, type GlobalOptions } from './output.js';
import type { Clock } from '../core/clock.js';
import type { AppContext, KdfStrength } from '../app/session.js';

/**
 * What a caller of main() may put in place of production behaviour. bin/triad passes
 * nothing; the test entry (test/helpers/triad-test-entry.mjs) pins the clock, lowers the
 * scrypt cost and its floor, shrinks packs and lock lifetimes, and may wrap each target's
 * storage to inject faults. The shipped CLI reads none of these from its environment.
 */
export interface CliInjections {
  clock?: Clock;
  kdf?: KdfStrength;
  /** Target pack size of backup and prune (bytes). */
  packSize?: number;
  /** How long a repository lock lives without a refresh (ms). */
  lockStaleAfterMs?: number;
  /** Wraps each opened target's backend inside the retry wrapper (fault injection of the torture run). */
  wrapStorage?: AppContext['wrapStorage'];
}

/** Per-invocation state: the only place that holds process.env and the abort signal. */
export interface CliContext {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted on SIGINT / SIGTERM; app code stops cleanly when it fires. */
  signal: AbortSignal;
  injected: CliInjections;
  globals(cmd: Command): GlobalOptions;
  output(cmd: Command): Output;
  /** Exit code the command wants once it has returned normally. */
  setExitCode(code: number): void;
}

export function makeContext(env: NodeJS.ProcessEnv, cwd: string, signal: AbortSignal, setExitCode: (c: number) => void, injected: CliInjections = {}): CliContext {
  const globals = (cmd: Command): GlobalOptions => {
    const o = cmd.optsWithGlobals<Record<string, unknown>>();
    return {
      json: Boolean(o.json),
      quiet: Boolean(o.quiet),
      verbose: Boolean(o.verbose),
      color: o.color !== false,
      utc: Boolean(o.utc),
      catalog: typeof o.catalog === 'string' ? o.catalog : undefined,
    };
  };
  return {
    env,
    cwd,
    signal,
    injected,
    globals,
    output: (cmd) => new Output(globals(cmd), { env }),
    setExitCode,
  };
}

const examplesByCommand = new WeakMap<Command, readonly string[]>();

/** Adds the `Examples:` block every command's --help must show (and the man page repeats). */
export function examples(cmd: Command, lines: string[]): Command {
  examplesByCommand.set(cmd, [...(examplesByCommand.get(cmd) ?? []), ...lines]);
  return cmd.addHelpText('after', '\nExamples:\n' + lines.map((l) => '  $ ' + l).join('\n'));
}

/** The example command lines given to examples() for this command (without the `$ `). */
export function examplesOf(cmd: Command): readonly string[] {
  return examplesByCommand.get(cmd) ?? [];
}
