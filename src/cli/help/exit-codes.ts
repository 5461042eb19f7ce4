/** Exit statuses of every command (DESIGN.md §7), as --help and the man page show them. */
export const EXIT_CODES: readonly (readonly [code: string, meaning: string])[] = [
  ['0', 'ok'],
  ['1', 'failed'],
  ['2', 'usage/invalid policy'],
  ['3', 'partial snapshot'],
  ['4', 'compliance finding'],
  ['10', 'no repository'],
  ['11', 'locked'],
  ['12', 'wrong passphrase'],
  ['130/143', 'interrupted'],
];

/** The `Exit codes:` paragraph at the end of `triad --help`. */
export function exitCodesHelp(): string {
  const items = EXIT_CODES.map(([code, meaning]) => `${code} ${meaning}`);
  const label = 'Exit codes: ';
  return `${label}${items.slice(0, 5).join(', ')},\n${' '.repeat(label.length)}${items.slice(5).join(', ')}.`;
}
