import type { Command } from 'commander';
import { allCommands, commandTree, type CommandSpec, type OptionSpec, type ValueKind } from './tree.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/**
 * A completion script for `shell`, written from the same command tree --help prints:
 * subcommands, options, option values (`-p/--policy` completes *.yaml files, choices
 * their choices) and positional arguments with a known kind.
 */
export function completionScript(program: Command, shell: Shell): string {
  const nodes = completionNodes(commandTree(program));
  return { bash: bashScript, zsh: zshScript, fish: fishScript }[shell](nodes) + '\n';
}

/** One command as the scripts see it: `key` is its path after `triad` ('' for triad itself). */
interface Node {
  key: string;
  subcommands: { name: string; description: string }[];
  /** Its own options and those of the commands above it (commander accepts them anywhere below). */
  options: OptionSpec[];
  /** Options first defined here (the scripts' value tables match them here and below). */
  ownOptions: OptionSpec[];
  arguments: CommandSpec['arguments'];
}

function completionNodes(root: CommandSpec): Node[] {
  const byPath = new Map<string, Node>();
  for (const cmd of [root, ...allCommands(root)]) {
    const key = cmd.path.slice(1).join(' ');
    const inherited = key === '' ? [] : (byPath.get(cmd.path.slice(1, -1).join(' '))?.options ?? []);
    const known = new Set(inherited.flatMap((o) => o.names));
    // Every command has its own -h/--help: the one from above already covers it.
    const ownOptions = cmd.options.filter((o) => !o.names.some((name) => known.has(name)));
    byPath.set(key, {
      key,
      subcommands: cmd.commands.map((c) => ({ name: c.path[c.path.length - 1] ?? '', description: oneLine(c.description) })),
      options: [...inherited, ...ownOptions],
      ownOptions,
      arguments: cmd.arguments,
    });
  }
  return [...byPath.values()];
}

const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim();
/** A word in single quotes for sh, zsh and fish alike. */
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
/** fish has no '\'' inside single quotes: it escapes the quote and the backslash instead. */
const fq = (s: string): string => `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;

/** A value's kind and its choices as one word list, e.g. `choice plain json`. */
const valueWords = (kind: ValueKind, choices: readonly string[]): string => [kind, ...choices].join(' ');

/** `case` patterns that match command `key` and every command below it, for the word `name`. */
function keyPatterns(key: string, name: string): string {
  return key === '' ? `*${q(`|${name}`)}` : `${q(`${key}|${name}`)}|${q(`${key} `)}*${q(`|${name}`)}`;
}

/** The walk and the tables bash and zsh share (both read this sh subset). */
function shTables(nodes: readonly Node[]): string[] {
  const lines: string[] = [];
  const table = (name: string, comment: string, arms: string[], subject = '$1') => {
    lines.push(`# ${comment}`, `${name}() {`, `  case "${subject}" in`, ...arms.map((a) => `    ${a} ;;`), '  esac', '}');
  };
  table(
    '_triad_commands',
    'the subcommands of command $1',
    nodes.filter((n) => n.subcommands.length > 0).map((n) => `${q(n.key)}) echo ${q(n.subcommands.map((s) => s.name).join(' '))}`),
  );
  table(
    '_triad_options',
    'the options command $1 accepts',
    nodes.map((n) => `${q(n.key)}) echo ${q(n.options.flatMap((o) => o.names).join(' '))}`),
  );
  table(
    '_triad_value',
    'what option $2 of command $1 takes as its value (nothing when it takes none)',
    nodes.flatMap((n) => n.ownOptions.flatMap((o) => (o.value ? [`${o.names.map((name) => keyPatterns(n.key, name)).join('|')}) echo ${q(valueWords(o.value.kind, o.value.choices))}`] : []))),
    '$1|$2',
  );
  table(
    '_triad_argument',
    'what the positional word number $2 (from 0) of command $1 is',
    nodes.flatMap((n) =>
      n.arguments.flatMap((a, i) => (a.kind === 'other' ? [] : [`${q(`${n.key}|`)}${a.variadic ? '*' : q(String(i))}) echo ${q(valueWords(a.kind, a.choices))}`])),
    ),
    '$1|$2',
  );
  lines.push(
    '# sets _triad_cmd (the command path in the words given) and _triad_npos (positional words seen)',
    '_triad_walk() {',
    "  _triad_cmd='' _triad_npos=0",
    "  local w skip=''",
    '  for w in "$@"; do',
    "    if [[ -n $skip ]]; then skip=''; continue; fi",
    '    if [[ $w == -* ]]; then',
    '      [[ $w != *=* && -n $(_triad_value "$_triad_cmd" "$w") ]] && skip=1',
    '    elif [[ " $(_triad_commands "$_triad_cmd") " == *" $w "* ]]; then',
    '      _triad_cmd=${_triad_cmd:+$_triad_cmd }$w',
    '    else',
    '      _triad_npos=$((_triad_npos + 1))',
    '    fi',
    '  done',
    '}',
  );
  return lines;
}

function bashScript(nodes: readonly Node[]): string {
  return [
    '# bash completion for triad, written from its commands by `triad completion bash`.',
    '# Load it with: source <(triad completion bash)   (e.g. in ~/.bashrc)',
    ...shTables(nodes),
    '_triad_complete_value() {',
    '  local kind=$1 IFS=$\'\\n\'',
    '  shift',
    '  case $kind in',
    "    policy) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -X '!*.yaml' -- \"$cur\"; compgen -f -X '!*.yml' -- \"$cur\"; compgen -d -- \"$cur\")) ;;",
    '    file) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")) ;;',
    '    dir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")) ;;',
    '    choice) COMPREPLY=($(compgen -W "$*" -- "$cur")) ;;',
    '  esac',
    '}',
    '_triad() {',
    '  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} kind subs',
    '  COMPREPLY=()',
    '  _triad_walk "${COMP_WORDS[@]:1:COMP_CWORD-1}"',
    '  if [[ $COMP_CWORD -gt 1 && $prev == -* ]]; then',
    '    kind=$(_triad_value "$_triad_cmd" "$prev")',
    '    if [[ -n $kind ]]; then _triad_complete_value $kind; return 0; fi',
    '  fi',
    '  if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "$(_triad_options "$_triad_cmd")" -- "$cur")); return 0; fi',
    '  subs=$(_triad_commands "$_triad_cmd")',
    '  if [[ -n $subs ]]; then COMPREPLY=($(compgen -W "$subs" -- "$cur")); return 0; fi',
    '  kind=$(_triad_argument "$_triad_cmd" "$_triad_npos")',
    '  if [[ -n $kind ]]; then _triad_complete_value $kind; fi',
    '  return 0',
    '}',
    'complete -F _triad triad',
  ].join('\n');
}

/** `name:description` lines for zsh's _describe (a colon in the name would need escaping; no name has one). */
const described = (items: readonly { name: string; description: string }[]): string => q(items.map((i) => `${i.name}:${i.description}`).join('\n'));

function zshScript(nodes: readonly Node[]): string {
  const helpTable = (name: string, items: (n: Node) => { name: string; description: string }[]) => [
    `${name}() {`,
    '  case "$1" in',
    ...nodes.filter((n) => items(n).length > 0).map((n) => `    ${q(n.key)}) print -r -- ${described(items(n))} ;;`),
    '  esac',
    '}',
  ];
  return [
    '#compdef triad',
    '# zsh completion for triad, written from its commands by `triad completion zsh`.',
    '# Load it with: source <(triad completion zsh)   (in ~/.zshrc, after compinit),',
    '# or save it as _triad in a directory of $fpath.',
    ...shTables(nodes),
    '# name:description lines for _describe',
    ...helpTable('_triad_command_help', (n) => n.subcommands),
    ...helpTable('_triad_option_help', (n) => n.options.flatMap((o) => o.names.map((name) => ({ name, description: oneLine(o.description) })))),
    '_triad_complete_value() {',
    '  local kind=$1',
    '  shift',
    '  case $kind in',
    "    policy) _files -g '*.(yaml|yml)' ;;",
    '    file) _files ;;',
    '    dir) _files -/ ;;',
    "    choice) compadd -- \"$@\" ;;",
    '  esac',
    '}',
    '_triad() {',
    '  local cur=${words[CURRENT]} prev=${words[CURRENT-1]} kind',
    '  local -a items',
    '  _triad_walk "${(@)words[2,CURRENT-1]}"',
    '  if (( CURRENT > 2 )) && [[ $prev == -* ]]; then',
    '    kind=$(_triad_value "$_triad_cmd" "$prev")',
    '    if [[ -n $kind ]]; then _triad_complete_value ${=kind}; return; fi',
    '  fi',
    '  if [[ $cur == -* ]]; then',
    '    items=(${(f)"$(_triad_option_help "$_triad_cmd")"})',
    "    _describe -t options 'option' items",
    '    return',
    '  fi',
    '  items=(${(f)"$(_triad_command_help "$_triad_cmd")"})',
    "  if (( $#items )); then _describe -t commands 'command' items; return; fi",
    '  kind=$(_triad_argument "$_triad_cmd" "$_triad_npos")',
    '  if [[ -n $kind ]]; then _triad_complete_value ${=kind}; fi',
    '}',
    'if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then _triad "$@"; else compdef _triad triad; fi',
  ].join('\n');
}

/** fish `complete` flags for a value of `kind`. */
function fishValue(kind: ValueKind, choices: readonly string[]): string {
  return {
    policy: "-f -a '(__triad_policy_files)'",
    file: '-F',
    dir: "-f -a '(__fish_complete_directories)'",
    choice: `-f -a ${fq(choices.join(' '))}`,
    other: '-f',
  }[kind];
}

function fishScript(nodes: readonly Node[]): string {
  const lines = [
    '# fish completion for triad, written from its commands by `triad completion fish`.',
    '# Load it with: triad completion fish | source   (or save it as ~/.config/fish/completions/triad.fish)',
    'function __triad_commands --description "the subcommands of command $argv[1]"',
    '    switch "$argv[1]"',
    ...nodes.filter((n) => n.subcommands.length > 0).flatMap((n) => [`        case ${fq(n.key)}`, `            printf '%s\\n' ${n.subcommands.map((s) => fq(s.name)).join(' ')}`]),
    '    end',
    'end',
    'function __triad_takes_value --description "whether option $argv[2] of command $argv[1] takes a value"',
    '    switch "$argv[1]|$argv[2]"',
    ...nodes.flatMap((n) =>
      n.ownOptions
        .filter((o) => o.value)
        .map((o) => `        case ${o.names.flatMap((name) => (n.key === '' ? [fq(`*|${name}`)] : [fq(`${n.key}|${name}`), fq(`${n.key} *|${name}`)])).join(' ')}\n            return 0`),
    ),
    '    end',
    '    return 1',
    'end',
    'function __triad_cmd --description "the command path typed so far"',
    '    set -l cmd',
    '    set -l skip 0',
    '    for w in (commandline -opc)[2..-1]',
    '        if test $skip = 1',
    '            set skip 0',
    "        else if string match -q -- '-*' $w",
    "            if not string match -q -- '*=*' $w; and __triad_takes_value \"$cmd\" $w",
    '                set skip 1',
    '            end',
    '        else if contains -- $w (__triad_commands "$cmd")',
    '            set cmd (string join -- " " $cmd $w)',
    '        end',
    '    end',
    '    echo "$cmd"',
    'end',
    'function __triad_at --description "whether the command typed so far is $argv[1]"',
    '    set -l cmd (__triad_cmd)',
    '    test "$cmd" = "$argv[1]"',
    'end',
    'function __triad_under --description "whether the command typed so far is $argv[1] or below it"',
    '    set -l cmd (__triad_cmd)',
    '    test "$cmd" = "$argv[1]"; or string match -q -- "$argv[1] *" "$cmd"',
    'end',
    'function __triad_policy_files --description "policy files (*.yaml, *.yml) and directories"',
    '    set -l token (commandline -ct)',
    '    for f in $token*.yaml $token*.yml $token*/',
    '        echo $f',
    '    end',
    'end',
    '# no file names unless a value or argument asks for them',
    'complete -c triad -f',
  ];
  for (const n of nodes) {
    const at = `-n ${fq(`__triad_at ${fq(n.key)}`)}`;
    for (const s of n.subcommands) lines.push(`complete -c triad ${at} -a ${fq(s.name)} -d ${fq(s.description)}`);
    const under = n.key === '' ? '' : ` -n ${fq(`__triad_under ${fq(n.key)}`)}`;
    for (const o of n.ownOptions) {
      const names = o.names.map((name) => (name.startsWith('--') ? `-l ${fq(name.slice(2))}` : `-s ${fq(name.slice(1))}`)).join(' ');
      const value = o.value ? ` -r ${fishValue(o.value.kind, o.value.choices)}` : '';
      lines.push(`complete -c triad${under} ${names}${value} -d ${fq(oneLine(o.description))}`);
    }
    const first = n.arguments[0];
    if (first && first.kind !== 'other') lines.push(`complete -c triad ${at} ${fishValue(first.kind, first.choices)} -d ${fq(oneLine(first.description))}`);
  }
  return lines.join('\n');
}
