import type { Command } from 'commander';
import { allCommands, commandTree, type CommandSpec, type OptionSpec } from './tree.js';
import { EXIT_CODES } from './exit-codes.js';

/**
 * triad(1) in man(7) roff, written from the same command tree that --help prints, so the
 * page lists exactly the commands, options and examples the installed CLI has.
 */
export function manPage(program: Command, version: string): string {
  const root = commandTree(program);
  const globalNames = new Set(root.options.flatMap((o) => o.names));
  const lines = [
    `.TH TRIAD 1 "" "triad ${roff(version)}" "User Commands"`,
    '.SH NAME',
    `triad \\- ${roff(root.description)}`,
    '.SH SYNOPSIS',
    '.B triad',
    '[\\fIoptions\\fR] \\fIcommand\\fR [\\fIargs\\fR]',
    '.SH DESCRIPTION',
    'A YAML policy says what to back up, where, and the contracted objectives; triad takes',
    'incremental, deduplicated, encrypted snapshots to every target of the policy and keeps',
    'a catalogue of them in SQLite. Every command below also answers \\fB\\-\\-help\\fR.',
    '.SH GLOBAL OPTIONS',
    'These apply to every command.',
    ...options(root.options),
    '.SH COMMANDS',
    ...allCommands(root).flatMap((cmd) => commandSection(cmd, globalNames)),
    '.SH EXAMPLES',
    ...examplesBlock(root.examples),
    '.SH EXIT STATUS',
    ...EXIT_CODES.flatMap(([code, meaning]) => ['.TP', `.B ${roff(code)}`, roff(meaning)]),
    '.SH SHELL COMPLETION',
    '.nf',
    roff('source <(triad completion bash)            # in ~/.bashrc'),
    roff('source <(triad completion zsh)             # in ~/.zshrc, after compinit'),
    roff('triad completion fish | source             # in ~/.config/fish/config.fish'),
    '.fi',
    '.SH SEE ALSO',
    'The README, docs/POLICY.md, docs/RUNBOOK.md and docs/FORMAT.md of the triad package.',
  ];
  return lines.join('\n') + '\n';
}

/** One command: usage, description, arguments, its own options (not -h/--help again) and examples. */
function commandSection(cmd: CommandSpec, globalNames: ReadonlySet<string>): string[] {
  const args = cmd.arguments.filter((a) => a.description);
  const own = cmd.options.filter((o) => !o.names.some((n) => globalNames.has(n)));
  return [
    `.SS "${roff(cmd.path.join(' '))}"`,
    `.B ${roff(cmd.path.join(' '))}`,
    roff(cmd.usage),
    '.PP',
    roff(cmd.description),
    ...(args.length > 0 ? ['.PP', 'Arguments:', ...args.flatMap((a) => ['.TP', `.I ${roff(a.name)}`, roff(a.description)])] : []),
    ...(own.length > 0 ? ['.PP', 'Options:', ...options(own)] : []),
    ...(cmd.examples.length > 0 ? ['.PP', 'Examples:', ...examplesBlock(cmd.examples)] : []),
  ];
}

function options(list: readonly OptionSpec[]): string[] {
  return list.flatMap((o) => ['.TP', optionTerm(o), roff(o.description)]);
}

/** `-p, --policy <file>` as `\fB\-p\fR, \fB\-\-policy\fR \fI<file>\fR`. */
function optionTerm(o: OptionSpec): string {
  const [names = '', value] = o.flags.split(/ (?=[<[])/);
  const bold = names.split(/,\s*|\s+/).filter(Boolean).map((n) => `\\fB${roff(n)}\\fR`).join(', ');
  return value === undefined ? bold : `${bold} \\fI${roff(value)}\\fR`;
}

function examplesBlock(lines: readonly string[]): string[] {
  return ['.PP', '.RS 4', '.nf', ...lines.map((l) => roff(`$ ${l}`)), '.fi', '.RE'];
}

/** Characters the help text uses, as groff glyphs that also have an ASCII rendering (man in a C locale). */
const GLYPHS: Readonly<Record<string, string>> = { '…': '...', '—': '\\(em', '–': '\\(en', '→': '\\(->', '§': '\\(sc', '·': '\\(pc', '×': '\\(mu' };

/**
 * Text safe in roff lines: backslashes and hyphens escaped, a control character that
 * starts a line defused, and anything else outside ASCII as a groff glyph.
 */
function roff(text: string): string {
  const escaped = [...text]
    .map((ch) => {
      if (ch === '\\') return '\\e';
      if (ch === '-') return '\\-';
      const named = GLYPHS[ch];
      if (named !== undefined) return named;
      const code = ch.codePointAt(0) ?? 0;
      return code > 0x7e ? `\\[u${code.toString(16).toUpperCase().padStart(4, '0')}]` : ch;
    })
    .join('');
  return escaped.replace(/^(?=[.'])/gm, '\\&');
}
