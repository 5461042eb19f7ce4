/**
 * Notifications (`notify` in the policy): a webhook POST carrying the run summary as JSON,
 * and heartbeat pings in the style of healthchecks.io (`URL/start` when a job starts, `URL`
 * on success, `URL/fail` on failure) so an outside monitor notices a backup that never ran.
 *
 * The payload is built field by field from the run summary, never by spreading an object
 * that could carry a secret. Delivery is bounded: a timeout per request, a capped number
 * of attempts with exponential backoff, and a total time budget. A notification that
 * cannot be delivered is reported to the caller, never thrown: a backup does not fail
 * because a monitoring endpoint is down.
 */
import type { Clock } from '../core/clock.js';

export type NotifyJob = 'backup' | 'restore-test' | 'prune' | 'check' | (string & {});
/** `skipped`: the job did not start because the same job of the policy was still running. */
export type RunStatus = 'ok' | 'partial' | 'failed' | 'interrupted' | 'skipped';

/** What a notification says about one run. Every field is plain data without secrets. */
export interface RunSummary {
  policy: string;
  job: NotifyJob;
  status: RunStatus;
  exitCode: number;
  host: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  snapshot?: string;
  /** Error code (E_…) and message of a failed run; messages of TriadErrors never hold secrets. */
  errorCode?: string;
  error?: string;
  files?: number;
  bytesRead?: number;
  bytesAdded?: number;
  targets?: { name: string; ok: boolean; error?: string }[];
  hooks?: { kind: string; run: string; exitCode: number | null; timedOut: boolean }[];
}

export interface DeliveryOptions {
  clock: Clock;
  signal?: AbortSignal;
  /** Per request; default 10 s. */
  timeoutMs?: number;
  /** Attempts in total; default 4. */
  attempts?: number;
  /** First backoff; doubles each attempt; default 1 s. */
  backoffMs?: number;
  /** Stop retrying once this much time has passed; default 60 s. */
  maxElapsedMs?: number;
  /** Injected for tests; default the global fetch of Node 20. */
  fetch?: typeof fetch;
  /** Injected for tests; default setTimeout. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  userAgent?: string;
}

export interface DeliveryResult {
  /** The URL with any user:password removed. */
  url: string;
  ok: boolean;
  attempts: number;
  status?: number;
  error?: string;
}

/** The webhook body: an explicit list of fields, in a stable order, under a versioned envelope. */
export function webhookPayload(s: RunSummary): Record<string, unknown> {
  const p: Record<string, unknown> = {
    version: 1,
    source: 'triad',
    event: `${s.job}.${s.status}`,
    policy: s.policy,
    job: s.job,
    status: s.status,
    exitCode: s.exitCode,
    host: s.host,
    startedAt: s.startedAt,
    finishedAt: s.finishedAt,
    durationMs: Math.round(s.durationMs),
  };
  if (s.snapshot !== undefined) p.snapshot = s.snapshot;
  if (s.errorCode !== undefined) p.errorCode = s.errorCode;
  if (s.error !== undefined) p.error = s.error.slice(0, 2000);
  if (s.files !== undefined) p.files = s.files;
  if (s.bytesRead !== undefined) p.bytesRead = s.bytesRead;
  if (s.bytesAdded !== undefined) p.bytesAdded = s.bytesAdded;
  if (s.targets !== undefined) p.targets = s.targets.map((t) => ({ name: t.name, ok: t.ok, ...(t.error !== undefined ? { error: t.error.slice(0, 500) } : {}) }));
  if (s.hooks !== undefined) p.hooks = s.hooks.map((h) => ({ kind: h.kind, run: h.run, exitCode: h.exitCode, timedOut: h.timedOut }));
  return p;
}

/** POSTs the run summary as JSON; retries 5xx, 408, 429 and network errors. */
export async function sendWebhook(url: string, summary: RunSummary, opts: DeliveryOptions): Promise<DeliveryResult> {
  const body = JSON.stringify(webhookPayload(summary));
  return deliver(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body }, opts);
}

export type HeartbeatEvent = 'start' | 'success' | 'fail';

/** healthchecks.io style: `URL/start`, `URL`, `URL/fail`. Query strings are kept after the suffix. */
export function heartbeatUrl(base: string, event: HeartbeatEvent): string {
  const u = new URL(base);
  const path = u.pathname.replace(/\/+$/, '');
  u.pathname = event === 'success' ? path || '/' : `${path}/${event}`;
  return u.toString();
}

/**
 * Pings the heartbeat URL. The body (success and fail) is a short plain-text summary,
 * which healthchecks.io shows in its event log; it carries no secret.
 */
export async function pingHeartbeat(base: string, event: HeartbeatEvent, summary: RunSummary | undefined, opts: DeliveryOptions): Promise<DeliveryResult> {
  const url = heartbeatUrl(base, event);
  const text = summary ? heartbeatText(summary) : '';
  return deliver(url, { method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8' }, body: text }, opts);
}

function heartbeatText(s: RunSummary): string {
  const parts = [`triad ${s.job} of policy ${s.policy}: ${s.status} (exit ${s.exitCode})`];
  if (s.snapshot) parts.push(`snapshot ${s.snapshot}`);
  if (s.error) parts.push(s.error.slice(0, 1000));
  return parts.join('\n');
}

/** A URL fit for logs: user:password@ removed (pnpm's redactUrlCredentials). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '';
      u.password = '';
    }
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

async function deliver(url: string, init: { method: string; headers: Record<string, string>; body: string }, opts: DeliveryOptions): Promise<DeliveryResult> {
  const doFetch = opts.fetch ?? fetch;
  const sleep = opts.sleep ?? opts.clock.sleep;
  const attempts = Math.max(1, opts.attempts ?? 4);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const maxElapsed = opts.maxElapsedMs ?? 60_000;
  let backoff = opts.backoffMs ?? 1000;
  const started = opts.clock.monotonic();
  const shown = redactUrl(url);
  let last: DeliveryResult = { url: shown, ok: false, attempts: 0 };
  for (let i = 1; i <= attempts; i++) {
    if (opts.signal?.aborted) return { ...last, error: last.error ?? 'interrupted' };
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    let retry: boolean;
    try {
      const res = await doFetch(url, { ...init, headers: { 'user-agent': opts.userAgent ?? 'triad', ...init.headers }, signal, redirect: 'follow' });
      // Drain the body so the connection is released.
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return { url: shown, ok: true, attempts: i, status: res.status };
      last = { url: shown, ok: false, attempts: i, status: res.status, error: `HTTP ${res.status}` };
      retry = res.status >= 500 || res.status === 408 || res.status === 429;
    } catch (err) {
      const why = timeout.aborted ? `no answer within ${timeoutMs} ms` : errorText(err);
      last = { url: shown, ok: false, attempts: i, error: why };
      retry = !opts.signal?.aborted;
    }
    if (!retry || i === attempts) break;
    const elapsed = opts.clock.monotonic() - started;
    if (elapsed + backoff > maxElapsed) break;
    try {
      await sleep(backoff, opts.signal);
    } catch {
      break; // interrupted while waiting: give up quietly, the result says why
    }
    backoff *= 2;
  }
  return last;
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    // Messages from fetch name the URL at most; strip credentials if they appear.
    return (err.message + detail).replace(/\/\/[^/@\s]+@/g, '//');
  }
  return String(err);
}
