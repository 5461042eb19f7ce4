/**
 * Policy problems: one located finding each, collected for a whole file and thrown together,
 * and the field paths and values they name.
 */
import { TriadError } from '../core/errors.js';

/** One located problem in a policy file. `path` is the dotted field path (`targets.cloud.bucket`, `sources[0].path`). */
export interface PolicyProblem {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  path: string;
  message: string;
  expected?: string;
  /** The value written in the file; never set for secret or credential fields. */
  found?: string;
}

export type Seg = string | number;
export type PathArr = readonly Seg[];
export interface Loc {
  line: number;
  column: number;
}

/**
 * Keys that would hold a secret written inline. Credentials are only given by reference
 * (`*_env`, `*_file`, `*_command`), so any of these keys is refused, wherever it appears.
 */
export const INLINE_SECRET_KEYS: Record<string, string> = {
  passphrase: 'use passphrase_env, passphrase_file or passphrase_command under `encryption`',
  password: 'give the name of an environment variable, a file or a command that holds it',
  secret: 'give the name of an environment variable, a file or a command that holds it',
  secret_access_key: 'use credentials_env: {access_key_id: VAR, secret_access_key: VAR}',
  secret_key: 'use credentials_env: {access_key_id: VAR, secret_access_key: VAR}',
  access_key: 'use credentials_env: {access_key_id: VAR, secret_access_key: VAR}',
  session_token: 'use credentials_env.session_token: VAR',
  connection_string: 'use connection_string_env: VAR',
  account_key: 'use account_key_env: VAR',
  sas_token: 'use sas_token_env: VAR',
  private_key: 'use key_file: /path/to/key.json',
  client_secret: 'give the name of an environment variable, a file or a command that holds it',
  token: 'give the name of an environment variable, a file or a command that holds it',
  api_key: 'give the name of an environment variable, a file or a command that holds it',
};

/** `file:line:col: path: message`, one line per problem (`file:line:col: message` when no field applies, e.g. YAML syntax). */
export function formatProblem(p: PolicyProblem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}:${p.column}` : p.file;
  return `${where}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

export function policyInvalidError(file: string, problems: PolicyProblem[]): TriadError {
  return new TriadError('E_POLICY_INVALID', problems.map(formatProblem).join('\n'), {
    hint: `fix the ${problems.length === 1 ? 'problem' : `${problems.length} problems`} above in ${file}; see docs/POLICY.md for every field`,
    details: { file, problems },
  });
}

/** The problems of a policy file that could not be read or is invalid (E_POLICY_NOT_FOUND, E_POLICY_INVALID), or undefined for any other error. */
export function policyProblems(err: unknown): PolicyProblem[] | undefined {
  if (err instanceof TriadError && (err.code === 'E_POLICY_INVALID' || err.code === 'E_POLICY_NOT_FOUND') && Array.isArray(err.details?.problems)) {
    return err.details.problems as PolicyProblem[];
  }
  return undefined;
}

export function formatPath(path: PathArr): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

export const keyOf = (path: PathArr): string => JSON.stringify(path);

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function describeValue(v: unknown): string {
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? v.slice(0, 57) + '...' : v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return typeof v;
}

/** Credential references and secret-shaped keys: their values are never echoed in problems. */
function isSensitivePath(path: PathArr): boolean {
  return path.some(
    (s) => typeof s === 'string' && (s.endsWith('_env') || s === 'passphrase_command' || s === 'passphrase_file' || s in INLINE_SECRET_KEYS),
  );
}

/** The problems found in one file: added as they are found, deduplicated and sorted at the end. */
export class Problems {
  private readonly list: PolicyProblem[] = [];
  /** Paths already reported (inline secret, failed interpolation): schema errors there would only repeat them. */
  readonly reported = new Set<string>();

  constructor(private readonly file: string) {}

  get length(): number {
    return this.list.length;
  }

  add(loc: Loc, path: PathArr, message: string, extra: { expected?: string; found?: string } = {}): void {
    const p: PolicyProblem = { file: this.file, line: loc.line, column: loc.column, path: formatPath(path), message };
    if (extra.expected !== undefined) p.expected = extra.expected;
    if (extra.found !== undefined && !isSensitivePath(path)) p.found = extra.found;
    this.list.push(p);
  }

  finish(): { ok: false; problems: PolicyProblem[] } {
    const seen = new Set<string>();
    const unique = this.list.filter((p) => {
      const k = `${p.line}:${p.column}:${p.path}:${p.message}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    unique.sort((a, b) => a.line - b.line || a.column - b.column);
    if (unique.length === 0) throw new Error('policy validation failed without a problem');
    return { ok: false, problems: unique };
  }
}
