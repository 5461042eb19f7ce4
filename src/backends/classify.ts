import { checkObjectSize, StorageError, type Range, type StorageErrorKind } from './storage.js';

/**
 * Helpers shared by the backends to turn SDK and system errors into StorageError kinds.
 * Messages built here never include request URLs, headers or connection strings: SDK errors
 * can carry SAS tokens or signed URLs, so only codes, statuses and redacted text survive.
 */

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EHOSTDOWN', 'ENETDOWN']);
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ECONNABORTED',
  'ESOCKETTIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'EPROTO',
]);
const THROTTLE_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequests',
  'TooManyRequestsException',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'InternalError',
  'ServiceUnavailable',
  'ServerBusy',
  'OperationTimedOut',
  'TimeoutError',
  'RequestTimeoutException',
  'ConditionalRequestConflict',
]);

/** Kind for a network-level failure code (ECONNREFUSED…), or undefined when it is not one. */
export function networkKind(code: string | undefined): StorageErrorKind | undefined {
  if (!code) return undefined;
  if (UNREACHABLE_CODES.has(code)) return 'unreachable';
  if (TRANSIENT_CODES.has(code)) return 'transient';
  return undefined;
}

/** Kind implied by an HTTP status alone. */
export function statusKind(status: number | undefined): StorageErrorKind | undefined {
  if (status === undefined) return undefined;
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not-found';
  if (status === 408 || status === 429 || status >= 500) return 'transient';
  return undefined;
}

export function throttleName(name: string | undefined): boolean {
  return name !== undefined && THROTTLE_NAMES.has(name);
}

/** Walks `cause` chains (fetch/undici and gaxios wrap the socket error) looking for a system code. */
export function findSystemCode(err: unknown): string | undefined {
  let cur: unknown = err;
  for (let depth = 0; depth < 6 && cur && typeof cur === 'object'; depth++) {
    const c = (cur as { code?: unknown }).code;
    if (typeof c === 'string' && (UNREACHABLE_CODES.has(c) || TRANSIENT_CODES.has(c))) return c;
    const errors = (cur as { errors?: unknown }).errors;
    if (Array.isArray(errors)) {
      for (const e of errors) {
        const inner = findSystemCode(e);
        if (inner) return inner;
      }
    }
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isAbortError(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return true;
  if (!err || typeof err !== 'object') return false;
  const name = (err as { name?: unknown }).name;
  const code = (err as { code?: unknown }).code;
  return name === 'AbortError' || code === 'ABORT_ERR';
}

const SECRET_PATTERNS: [RegExp, string][] = [
  [/([?&;]|^)(sig|se|sv|sp|spr|srt|ss|st|skoid|sktid|skt|ske|sks|skv|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|access_token)=[^&\s;"']*/gi, '$1$2=[redacted]'],
  [/(AccountKey|SharedAccessSignature|AccessKey|Password)=[^;\s"']*/gi, '$1=[redacted]'],
  [/(Authorization|x-amz-security-token|x-ms-copy-source-authorization)["']?\s*[:=]\s*["']?[^"'\n,}]*/gi, '$1: [redacted]'],
  [/\/\/[^/@\s:]+:[^/@\s]+@/g, '//[redacted]@'],
];

/** Removes anything that looks like a credential from text destined for an error message or log. */
export function redact(text: string): string {
  let out = text;
  for (const [re, rep] of SECRET_PATTERNS) out = out.replace(re, rep);
  return out.length > 300 ? `${out.slice(0, 300)}…` : out;
}

/** A cause that keeps the diagnostic essentials of an SDK error without its request object. */
export function sanitizedCause(err: unknown): Error {
  if (!(err instanceof Error)) return new Error(redact(String(err)));
  const e = new Error(redact(err.message || err.name));
  e.name = err.name;
  const code = (err as { code?: unknown }).code ?? findSystemCode(err);
  if (typeof code === 'string' || typeof code === 'number') (e as Error & { code?: unknown }).code = code;
  return e;
}

export function abortedError(location: string, op: string, name?: string): StorageError {
  return new StorageError('aborted', location, `${location}: ${op}${name ? ` ${name}` : ''} aborted`, { objectName: name });
}

export function throwIfAborted(signal: AbortSignal | undefined, location: string, op: string, name?: string): void {
  if (signal?.aborted) throw abortedError(location, op, name);
}

/**
 * The message of a classified cloud storage failure: what was done, what kind of failure, and
 * the detail that says what to check. For a network failure that is the endpoint and the
 * system's own error (`ECONNREFUSED: connect ECONNREFUSED 10.0.0.5:9000`), since an SDK's
 * error name ("Error", "TypeError") says nothing.
 */
export function failureMessage(o: { location: string; what: string; kind: StorageErrorKind; detail: string; err: unknown; endpoint: string }): string {
  const head = `${o.location}: ${o.what}: ${describeKind(o.kind)}`;
  const message = redact(o.err instanceof Error ? o.err.message || o.err.name : String(o.err));
  if (o.kind === 'unreachable') {
    const system = findSystemCode(o.err);
    const why = system && !message.includes(system) ? `${system}: ${message}` : message;
    return `${head} (endpoint ${redact(o.endpoint)}: ${why})`;
  }
  return `${head}${o.detail ? ` (${o.detail})` : ''}${o.kind === 'other' ? `: ${message}` : ''}`;
}

/** Wording for a kind, used to build messages that tell the user what to check. */
export function describeKind(kind: StorageErrorKind): string {
  switch (kind) {
    case 'not-found':
      return 'object not found';
    case 'exists':
      return 'object already exists';
    case 'unreachable':
      return 'storage unreachable';
    case 'auth':
      return 'access denied (check the credentials and permissions)';
    case 'no-container':
      return 'bucket/container or repository root does not exist';
    case 'no-space':
      return 'no space left';
    case 'transient':
      return 'temporary failure';
    case 'aborted':
      return 'aborted';
    case 'invalid':
      return 'not a regular object of a plausible size';
    default:
      return 'failed';
  }
}

/** Normalises an object-name prefix from a policy ('', 'a', 'a/' → '', 'a/', 'a/'). */
export function normalizePrefix(prefix: string | undefined): string {
  if (!prefix) return '';
  const trimmed = prefix.replace(/^\/+/, '');
  if (trimmed === '') return '';
  return trimmed.endsWith('/') ? trimmed : `${trimmed}/`;
}

/** Object names are relative, '/'-separated and never climb out of the repository. */
export function checkName(location: string, name: string): void {
  if (
    name === '' ||
    name.startsWith('/') ||
    name.includes('\\') ||
    name.includes('\0') ||
    name.split('/').some((s) => s === '' || s === '.' || s === '..')
  ) {
    throw new StorageError('other', location, `${location}: invalid object name ${JSON.stringify(name)}`, { objectName: name });
  }
}

/** Clips a requested range to an object of `size` bytes: [start, end) with end ≥ start. */
export function clipRange(size: number, offset: number, length: number | undefined): { start: number; end: number } {
  const start = Math.min(Math.max(0, offset), size);
  const end = length === undefined ? size : Math.min(size, start + Math.max(0, length));
  return { start, end };
}

/** Rejects negative or fractional ranges before any request is made. */
export function checkRange(location: string, name: string, range: Range | undefined): void {
  if (!range) return;
  const badOffset = !Number.isSafeInteger(range.offset) || range.offset < 0;
  const badLength = range.length !== undefined && (!Number.isSafeInteger(range.length) || range.length < 0);
  if (badOffset || badLength) throw new StorageError('other', location, `${location}: invalid range for ${name}`, { objectName: name });
}

/**
 * For object stores: refuses a whole-object load over its kind's cap from the length the
 * response announces, before the body is read; `drop` discards the body.
 */
export function refuseOversized(location: string, name: string, length: number | undefined, drop: () => void): void {
  if (length === undefined || !Number.isFinite(length)) return;
  try {
    checkObjectSize(location, name, length);
  } catch (err) {
    drop();
    throw err;
  }
}

/** How long a request for the endpoint's clock may take before the answer is "unknown". */
const SERVER_TIME_TIMEOUT_MS = 10_000;

/**
 * The clock of the server at `endpoint`: the `Date` header of its answer to a HEAD request.
 * Every HTTP server sends one, whatever the status (an unauthenticated request gets a 403 with
 * a Date), so no credentials are needed. Undefined when the answer has none.
 */
export async function endpointDate(endpoint: string, signal?: AbortSignal): Promise<Date | undefined> {
  const timeout = AbortSignal.timeout(SERVER_TIME_TIMEOUT_MS);
  const res = await fetch(endpoint, { method: 'HEAD', signal: signal ? AbortSignal.any([signal, timeout]) : timeout, redirect: 'manual' });
  await res.body?.cancel();
  const header = res.headers.get('date');
  const at = header === null ? Number.NaN : Date.parse(header);
  return Number.isFinite(at) ? new Date(at) : undefined;
}
