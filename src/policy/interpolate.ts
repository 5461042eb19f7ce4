/** `${VAR}` interpolation of policy strings from the environment the caller passes in. */
import type { PathArr } from './problems.js';

/** Strings that are not `${VAR}`-interpolated: shell commands (the shell expands them at run time) and env-var names. */
export function isInterpolationExempt(path: PathArr): boolean {
  const last = path[path.length - 1];
  if (path[0] === 'hooks') return last === 'run' || typeof last === 'number';
  if (path.includes('credentials_env')) return true;
  return typeof last === 'string' && (last.endsWith('_env') || last === 'passphrase_command');
}

/** The interpolated string, or the `${…}` written in it that failed and why. */
export type Interpolated = { ok: true; value: string } | { ok: false; token: string; message: string };

/** `${VAR}` and `${VAR:-default}` from env; `$${` is a literal `${`. */
export function interpolate(v: string, env: Record<string, string | undefined>): Interpolated {
  let out = '';
  let i = 0;
  while (i < v.length) {
    if (v.startsWith('$${', i)) {
      out += '${';
      i += 3;
      continue;
    }
    if (!v.startsWith('${', i)) {
      out += v[i++];
      continue;
    }
    const end = v.indexOf('}', i);
    const body = end < 0 ? '' : v.slice(i + 2, end);
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s.exec(body);
    const token = v.slice(i, end < 0 ? undefined : end + 1);
    if (!m) {
      return { ok: false, token, message: `invalid interpolation ${JSON.stringify(v.slice(i, end < 0 ? i + 12 : end + 1))}: expected \${NAME} or \${NAME:-default} (write $\${ for a literal \${)` };
    }
    const value = env[m[1]!];
    if (value !== undefined && value !== '') out += value;
    else if (m[2] !== undefined) out += m[2];
    else return { ok: false, token, message: `environment variable ${m[1]} is not set (used as \${${m[1]}}); set it, or give a default with \${${m[1]}:-value}` };
    i = end + 1;
  }
  return { ok: true, value: out };
}
