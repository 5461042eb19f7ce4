import { TriadError, ExitCode, errnoCode } from '../core/errors.js';
import { StorageError } from '../backends/storage.js';
import type { Output } from './output.js';

/** Converts anything thrown into a TriadError; the one place error classes meet exit codes. */
export function toTriadError(err: unknown): TriadError {
  if (err instanceof TriadError) return err;
  if (err instanceof StorageError) return storageToTriad(err);
  const code = errnoCode(err);
  if (code === 'ENOSPC') {
    return new TriadError('E_NO_SPACE', 'no space left on device', { hint: 'free space and run the command again', cause: err });
  }
  if (err instanceof Error && err.name === 'AbortError') {
    return new TriadError('E_INTERRUPTED', 'interrupted', { exitCode: ExitCode.SIGINT });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new TriadError('E_INTERNAL', `internal error: ${message}`, {
    hint: 'this is a bug in triad; please report it with the command line and the output of --verbose',
    cause: err,
  });
}

function storageToTriad(err: StorageError): TriadError {
  const where = err.objectName ? `${err.location} (${err.objectName})` : err.location;
  switch (err.kind) {
    case 'not-found':
      return new TriadError('E_OBJECT_NOT_FOUND', `object not found at ${where}`, { cause: err });
    case 'auth':
      return new TriadError('E_BACKEND_AUTH', `access denied by ${err.location}: ${err.message}`, {
        hint: 'check the credentials the policy names for this target and their permissions',
        cause: err,
      });
    case 'unreachable':
      return new TriadError('E_BACKEND_UNREACHABLE', `cannot reach ${err.location}: ${err.message}`, {
        hint: 'check the network, the endpoint and that the mount or service is up',
        cause: err,
      });
    case 'no-container':
      return new TriadError('E_BACKEND', `${err.location} does not exist: ${err.message}`, {
        hint: 'create the bucket/container/directory, or fix the policy',
        cause: err,
      });
    case 'no-space':
      return new TriadError('E_NO_SPACE', `no space left on ${err.location}`, {
        hint: 'free space on the target; nothing committed was changed, and the next backup reuses what arrived',
        cause: err,
      });
    case 'invalid':
      return new TriadError('E_INTEGRITY', err.message, {
        hint: "that object is damaged or was put there by something else: run 'triad check -p POLICY' to see what is affected, and 'triad copy --from OTHER --to THIS' to restore it from another target",
        cause: err,
      });
    default:
      return new TriadError('E_BACKEND', `${where}: ${err.message}`, { cause: err });
  }
}

export function reportError(err: unknown, out: Output): number {
  const e = toTriadError(err);
  if (out.json) {
    out.emitJson({ error: { code: e.code, message: e.message, hint: e.hint, exitCode: e.exitCode, ...(e.details ?? {}) } });
  } else {
    out.error(`${e.message} [${e.code}]`);
    if (e.hint) out.hint(e.hint);
    if (out.verbose && e.code === 'E_INTERNAL' && e.cause instanceof Error && e.cause.stack) {
      out.stderr.write(e.cause.stack + '\n');
    }
  }
  return e.exitCode;
}
