import type { Command } from 'commander';
import { Output, type GlobalOptions } from './output.js';

/** Per-invocation state: the only place that holds process.env and the abort signal. */
export interface CliContext {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted on SIGINT / SIGTERM; app code stops cleanly when it fires. */
  signal: AbortSignal;
  globals(cmd: Command): GlobalOptions;
  output(cmd: Command): Output;
  /** Exit code the command wants once it has returned normally. */
  setExitCode(code: number): void;
}

export function makeContext(env: NodeJS.ProcessEnv, cwd: string, signal: AbortSignal, setExitCode: (c: number) => void): CliContext {
  const globals = (cmd: Command): GlobalOptions => {
    const o = cmd.optsWithGlobals<Record<string, unknown>>();
    return {
      json: Boolean(o.json),
      quiet: Boolean(o.quiet),
      verbose: Boolean(o.verbose),
      color: o.color !== false,
      catalog: typeof o.catalog === 'string' ? o.catalog : undefined,
    };
  };
  return {
    env,
    cwd,
    signal,
    globals,
    output: (cmd) => new Output(globals(cmd), { env }),
    setExitCode,
  };
}

/** Adds the `Examples:` block every command's --help must show. */
export function examples(cmd: Command, lines: string[]): Command {
  return cmd.addHelpText('after', '\nExamples:\n' + lines.map((l) => '  $ ' + l).join('\n'));
}
