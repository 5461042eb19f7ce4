/**
 * Descriptions of the things the app's events and the engine's errors both name (a failed
 * hook, a lock's holder, damaged key files), so a notice and an error word them alike. Light
 * on purpose: the CLI loads it at start-up to render events.
 */
import type { HookFailure } from './events.js';

/** One line for logs and error messages: `after hook "pg_dump …" exited with code 3`; `timeout` as the caller formats it. */
export function describeHookFailure(r: HookFailure, timeout?: string): string {
  const what = `${r.kind} hook "${r.run}"`;
  if (r.spawnError !== undefined) return `${what} could not start: ${r.spawnError}`;
  if (r.timedOut) return `${what} timed out${timeout !== undefined ? ` after ${timeout}` : ''} and was killed${r.removedOutput?.length ? `; its output ${r.removedOutput.join(', ')} was removed` : ''}`;
  if (r.aborted) return `${what} was interrupted`;
  const removed = r.removedOutput?.length ? `; its output ${r.removedOutput.join(', ')} was removed so that it is not backed up` : '';
  if (r.exitCode === null) return `${what} was killed by ${r.signal ?? 'a signal'}${removed}`;
  return `${what} exited with code ${r.exitCode}${removed}`;
}

/** Who holds a lock: what a notice or an error about it names. */
export interface LockHolder {
  host: string;
  pid: number;
  kind: string;
  command?: string;
  since: string;
}

/** `host/pid (exclusive lock for prune) since TIME, 5m ago`. */
export function describeLockHolder(h: LockHolder, ageMs: number): string {
  return `${h.host}/${h.pid} (${h.kind} lock${h.command ? ` for ${h.command}` : ''}) since ${h.since}, ${formatAge(ageMs)} ago`;
}

/** A lock's age in one unit: `45s`, `12m`, `5h`, `3d`. */
export function formatAge(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.round(m / 60);
  return h < 48 ? `${h}h` : `${Math.round(h / 24)}d`;
}

export interface DamagedKey {
  id: string;
  reason: string;
}

export function describeDamagedKeys(damaged: readonly DamagedKey[]): string {
  return damaged.map((d) => `key file keys/${d.id} is damaged (${d.reason})`).join('; ');
}

/** What to do about a damaged index file of `target`. */
export function repairIndexHint(target: string): string {
  return `run 'triad repair index -p POLICY --target ${target}' (it rebuilds the index from the packs' headers)`;
}

/** What to do about a damaged, truncated or missing pack of `target`. */
export function repairPacksHint(target: string): string {
  return `run 'triad repair packs -p POLICY --target ${target}' (it keeps the blobs that still verify and fetches the others from the policy's other targets)`;
}

/** `s` as one POSIX shell word, so a suggested command runs as written (quoted only when needed). */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
