import { constants as fsConstants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { TriadError, errnoCode } from '../core/errors.js';
import type { PolicyProblem } from './problems.js';

/** Largest policy file read: a policy is a short YAML file, and a larger one is refused before it is read. */
export const MAX_POLICY_BYTES = 1024 * 1024;

/**
 * The text of a policy file, for every command that loads one: a regular file of at most
 * MAX_POLICY_BYTES, checked before anything is read. Opened non-blocking, so a FIFO put in
 * its place between the check and the read cannot hang the command. Errors carry
 * `details.reason`, the phrase `policy check` prints after the file name.
 * @param file the path as the user gave it (named in messages)
 * @param abs the path resolved against the working directory
 */
export async function readPolicyText(file: string, abs: string): Promise<string> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(abs, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    const st = await handle.stat();
    if (st.isDirectory()) throw policyFileError('E_POLICY_NOT_FOUND', file, `${file} is a directory, not a policy file`, 'is a directory, not a policy file');
    if (!st.isFile()) throw policyFileError('E_POLICY_NOT_FOUND', file, `${file} is not a regular file`, 'is not a regular file (a FIFO, socket or device)');
    if (st.size > MAX_POLICY_BYTES) throw policyTooLarge(file, st.size);
    const buf = Buffer.alloc(MAX_POLICY_BYTES + 1);
    let length = 0;
    while (length < buf.length) {
      const { bytesRead } = await handle.read(buf, length, buf.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    // The file may have grown since the stat: the cap holds for what is read too.
    if (length > MAX_POLICY_BYTES) throw policyTooLarge(file, length);
    return buf.toString('utf8', 0, length);
  } catch (err) {
    if (err instanceof TriadError) throw err;
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') throw policyFileError('E_POLICY_NOT_FOUND', file, `policy file not found: ${file}`, 'policy file not found', err);
    if (code === 'EACCES' || code === 'EPERM') throw policyFileError('E_POLICY_NOT_FOUND', file, `permission denied: cannot read policy file ${file}`, 'permission denied', err);
    const reason = `cannot be read (${code ?? (err instanceof Error ? err.message : String(err))})`;
    throw policyFileError('E_POLICY_NOT_FOUND', file, `policy file ${file} ${reason}`, reason, err);
  } finally {
    await handle?.close();
  }
}

function policyTooLarge(file: string, size: number): TriadError {
  const reason = `is too large for a policy file: ${size} bytes, the limit is ${MAX_POLICY_BYTES} (1 MiB)`;
  return policyFileError('E_POLICY_INVALID', file, `${file} ${reason}`, reason);
}

const FILE_HINTS: Record<string, string> = {
  E_POLICY_NOT_FOUND: 'give the path of a YAML policy file; shipped examples are in policies/ (e.g. policies/demo.yaml)',
  E_POLICY_INVALID: 'check that the path names the policy and not another file; a policy is a short YAML file (docs/POLICY.md)',
};

function policyFileError(code: 'E_POLICY_NOT_FOUND' | 'E_POLICY_INVALID', file: string, message: string, reason: string, cause?: unknown): TriadError {
  const problems: PolicyProblem[] = [{ file, line: 0, column: 0, path: '', message: reason }];
  return new TriadError(code, message, { hint: FILE_HINTS[code], cause, details: { file, reason, problems } });
}
