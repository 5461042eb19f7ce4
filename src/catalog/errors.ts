import { accessSync, constants as fsConstants } from 'node:fs';
import { dirname } from 'node:path';
import { TriadError, errnoCode } from '../core/errors.js';

const REBUILD_HINT = 'move the file aside and run `triad catalog rebuild -p POLICY --target NAME`; the repository holds everything the catalogue needs';

/** What to do when the catalogue's file or directory cannot be written. */
export const CATALOG_ELSEWHERE_HINT = 'the catalogue and its directory must be writable: choose another catalogue file with --catalog FILE or `catalog:` in the policy (or $TRIAD_CATALOG)';

/**
 * SQLite says only "unable to open database file" when it cannot create the WAL files
 * beside an existing catalogue: the file system's answer for the directory names the cause.
 */
function whyNotWritable(file: string): string | undefined {
  try {
    accessSync(dirname(file), fsConstants.W_OK);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** A failure to open the catalogue as an E_CATALOG TriadError naming the file. */
export function openError(file: string, err: unknown): TriadError {
  if (err instanceof TriadError) return err;
  const code = errnoCode(err);
  const reason = (code?.startsWith('SQLITE_CANTOPEN') || code?.startsWith('SQLITE_READONLY') ? whyNotWritable(file) : undefined) ?? (err instanceof Error ? err.message : String(err));
  let hint: string;
  switch (code) {
    case 'SQLITE_NOTADB':
    case 'SQLITE_CORRUPT':
      hint = `the file is damaged or is not a triad catalogue: ${REBUILD_HINT}`;
      break;
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
      hint = 'another triad process is holding the catalogue; try again when it has finished';
      break;
    case 'SQLITE_FULL':
    case 'ENOSPC':
      hint = 'the file system is full: free space and run the command again';
      break;
    case 'EROFS':
    case 'EACCES':
    case 'EPERM':
    case 'SQLITE_READONLY':
    case 'SQLITE_READONLY_DIRECTORY':
    case 'SQLITE_CANTOPEN':
      hint = CATALOG_ELSEWHERE_HINT;
      break;
    default:
      hint = `check that the path exists and is writable by this user; ${CATALOG_ELSEWHERE_HINT}`;
  }
  return new TriadError('E_CATALOG', `cannot open the catalogue ${file}: ${reason}`, { hint, cause: err });
}

/** A failed write in the catalogue's words (what happened, what to do); other errors unchanged. */
export function writeError(file: string, readonly: boolean, err: unknown): unknown {
  if (err instanceof TriadError) return err;
  const code = errnoCode(err);
  if (code === 'SQLITE_FULL') {
    return new TriadError('E_NO_SPACE', `no space left while writing the catalogue ${file}`, {
      hint: 'free space on that file system and run the command again; the repository is unaffected',
      cause: err,
    });
  }
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new TriadError('E_CATALOG', `the catalogue ${file} is locked by another process`, {
      hint: 'another triad command is writing it; try again when it has finished',
      cause: err,
    });
  }
  if (code === 'SQLITE_READONLY') {
    return new TriadError('E_CATALOG', `the catalogue ${file} is read-only`, {
      hint: readonly ? 'this command opened it read-only' : 'check the permissions of the file and its directory',
      cause: err,
    });
  }
  if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') {
    return new TriadError('E_CATALOG', `the catalogue ${file} is damaged`, { hint: REBUILD_HINT, cause: err });
  }
  return err;
}
