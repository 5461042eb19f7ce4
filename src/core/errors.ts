/**
 * User-facing errors carry a stable code name, the exit code of DESIGN.md §7 and a hint.
 * Programmer errors stay plain Error and map to exit 1 with an "internal error" notice.
 */
export const ExitCode = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  PARTIAL: 3,
  FINDING: 4,
  NO_REPOSITORY: 10,
  LOCKED: 11,
  WRONG_PASSPHRASE: 12,
  SIGINT: 130,
  /** The reader of standard output went away (`triad ls … | head`): what a shell reports for a process killed by SIGPIPE. */
  SIGPIPE: 141,
  SIGTERM: 143,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Stable code names; scripts may match on them. */
export const ErrorCodes = {
  E_USAGE: ExitCode.USAGE,
  E_POLICY_INVALID: ExitCode.USAGE,
  E_POLICY_NOT_FOUND: ExitCode.USAGE,
  E_RULE_VIOLATION: ExitCode.FINDING,
  E_COMPLIANCE: ExitCode.FINDING,
  E_RESTORE_TEST_FAILED: ExitCode.FINDING,
  E_PARTIAL_SNAPSHOT: ExitCode.PARTIAL,
  E_REPO_NOT_FOUND: ExitCode.NO_REPOSITORY,
  E_REPO_LOCKED: ExitCode.LOCKED,
  E_WRONG_PASSPHRASE: ExitCode.WRONG_PASSPHRASE,
  E_PASSPHRASE_UNAVAILABLE: ExitCode.FAILED,
  E_REPO_EXISTS: ExitCode.FAILED,
  E_REPO_MISMATCH: ExitCode.FAILED,
  E_INTEGRITY: ExitCode.FAILED,
  E_BACKEND: ExitCode.FAILED,
  E_BACKEND_AUTH: ExitCode.FAILED,
  E_BACKEND_UNREACHABLE: ExitCode.FAILED,
  E_OBJECT_NOT_FOUND: ExitCode.FAILED,
  E_SNAPSHOT_NOT_FOUND: ExitCode.FAILED,
  E_TARGET_FAILED: ExitCode.FAILED,
  E_NO_SPACE: ExitCode.FAILED,
  E_IO: ExitCode.FAILED,
  E_HOOK_FAILED: ExitCode.FAILED,
  E_RESTORE_TARGET: ExitCode.FAILED,
  E_UNSAFE_PATH: ExitCode.FAILED,
  E_CATALOG: ExitCode.FAILED,
  E_INTERRUPTED: ExitCode.SIGINT,
  E_INTERNAL: ExitCode.FAILED,
} as const;
export type ErrorCode = keyof typeof ErrorCodes;

export interface TriadErrorOptions {
  hint?: string;
  cause?: unknown;
  /** Overrides the exit code implied by the code (e.g. 143 for SIGTERM). */
  exitCode?: number;
  /** Structured details for --json output (never secrets). */
  details?: Record<string, unknown>;
}

export class TriadError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly exitCode: number;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, opts: TriadErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'TriadError';
    this.code = code;
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? ErrorCodes[code];
    this.details = opts.details;
  }
}

/** The exit code a run that ended with `err` reports: a TriadError's own, else FAILED. */
export function exitCodeOf(err: unknown): number {
  return err instanceof TriadError ? err.exitCode : ExitCode.FAILED;
}

/** What was thrown, as an Error (a thread or a callback may throw anything). */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

export function isTriadError(err: unknown, code?: ErrorCode): err is TriadError {
  return err instanceof TriadError && (code === undefined || err.code === code);
}

/** Node's system errors (ENOENT, ENOSPC…) carry a string `code`. */
export function errnoCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') {
    return (err as { code: string }).code;
  }
  return undefined;
}

/** Maps a low-level filesystem error to a TriadError that names the thing concerned. */
export function fsError(err: unknown, what: string): TriadError {
  if (err instanceof TriadError) return err;
  const code = errnoCode(err);
  const reason = err instanceof Error ? err.message : String(err);
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new TriadError('E_NO_SPACE', `no space left while writing ${what}`, {
        hint: 'free space on that file system (or raise the quota), then run the command again; nothing committed was changed',
        cause: err,
      });
    case 'EACCES':
    case 'EPERM':
      return new TriadError('E_IO', `permission denied: ${what}`, {
        hint: 'check the owner and mode of that path, or run triad as a user that may access it',
        cause: err,
      });
    case 'ENOENT':
      return new TriadError('E_IO', `no such file or directory: ${what}`, { hint: 'check the path', cause: err });
    case 'EROFS':
      return new TriadError('E_IO', `read-only file system: ${what}`, { hint: 'remount it read-write or choose another path', cause: err });
    default:
      return new TriadError('E_IO', `${what}: ${reason}`, { cause: err });
  }
}
