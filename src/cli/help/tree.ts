import type { Command, Help, Option } from 'commander';
import { examplesOf } from '../context.js';

/** What a value after an option or a positional word is, for completion. */
export type ValueKind = 'policy' | 'file' | 'dir' | 'choice' | 'other';

export interface OptionSpec {
  /** As --help shows them, e.g. `-p, --policy <file>`. */
  flags: string;
  /** Every spelling a user may type: `-p`, `--policy`. */
  names: string[];
  /** The description with commander's `(choices: …, default: …)` suffix. */
  description: string;
  takesValue: boolean;
  value?: { name: string; kind: ValueKind; choices: readonly string[] };
}

export interface ArgumentSpec {
  name: string;
  description: string;
  kind: ValueKind;
  choices: readonly string[];
  variadic: boolean;
}

/** One command of the CLI as its --help describes it; the man page and the completion scripts read this. */
export interface CommandSpec {
  /** Words from the program name on, e.g. ['triad', 'policy', 'check']. */
  path: string[];
  description: string;
  /** The usage line after the command path, e.g. `[options] <file...>`. */
  usage: string;
  /** Options of this command only (the program's own are the global options). */
  options: OptionSpec[];
  arguments: ArgumentSpec[];
  examples: readonly string[];
  commands: CommandSpec[];
}

/** The command tree under `program`, read from commander's own definitions and help formatter. */
export function commandTree(program: Command): CommandSpec {
  return describe(program, [program.name()]);
}

function describe(cmd: Command, path: string[]): CommandSpec {
  const help = cmd.createHelp();
  return {
    path,
    description: help.commandDescription(cmd),
    usage: cmd.usage(),
    options: help.visibleOptions(cmd).map((o) => optionSpec(o, help)),
    arguments: cmd.registeredArguments.map((a) => {
      const choices = a.argChoices ?? [];
      return { name: a.name(), description: a.description, kind: valueKind(a.name(), a.description, choices), choices, variadic: a.variadic };
    }),
    examples: examplesOf(cmd),
    // Not commander's implicit `help [command]`: it is no command of triad's own.
    commands: help.visibleCommands(cmd).filter((c) => cmd.commands.includes(c)).map((c) => describe(c, [...path, c.name()])),
  };
}

function optionSpec(o: Option, help: Help): OptionSpec {
  const names = [o.short, o.long].filter((n): n is string => n !== undefined);
  const spec: OptionSpec = { flags: o.flags, names, description: help.optionDescription(o), takesValue: o.required || o.optional };
  const valueName = /[<[]([^>\]]+)[>\]]/.exec(o.flags)?.[1];
  if (spec.takesValue && valueName !== undefined) {
    const choices = o.argChoices ?? [];
    spec.value = { name: valueName, kind: valueKind(valueName, o.description, choices), choices };
  }
  return spec;
}

/** What a value is, from its placeholder name (`<file>`, `<dir>`) and description (`policy file…` completes *.yaml). */
function valueKind(name: string, description: string, choices: readonly string[]): ValueKind {
  if (choices.length > 0) return 'choice';
  if (name === 'dir') return 'dir';
  if (name !== 'file') return 'other';
  return /^polic(y|ies)\b/.test(description) ? 'policy' : 'file';
}

/** Every command below the root, depth first, in --help order. */
export function allCommands(root: CommandSpec): CommandSpec[] {
  return root.commands.flatMap((c) => [c, ...allCommands(c)]);
}
