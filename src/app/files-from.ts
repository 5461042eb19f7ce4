import { readFileSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { TriadError } from '../core/errors.js';
import { decodeName, displayPath } from '../core/names.js';
import type { ArchiveSource } from '../repo/backup/index.js';
import type { Policy } from '../policy/types.js';

/**
 * The paths of a source's `files_from` list, relative to the source: one path per line,
 * absolute or relative to the source; blank lines and lines starting with `#` ignored.
 * A path outside the source is an error naming its line: it would silently back up nothing.
 * The list is read as the walk reads names: bytes that are not UTF-8 name those bytes.
 */
export function readFilesFrom(file: string, source: string): string[] {
  let text: string;
  try {
    text = decodeName(readFileSync(file));
  } catch (err) {
    throw new TriadError('E_POLICY_INVALID', `files_from ${file} of source ${source} cannot be read: ${(err as Error).message}`, {
      hint: 'create the list (one path per line), or fix files_from in the policy',
      cause: err,
    });
  }
  const paths: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const rel = relative(source, resolve(source, line));
    if (rel === '..' || rel.startsWith('../') || isAbsolute(rel)) {
      throw new TriadError('E_POLICY_INVALID', `${file}:${i + 1}: ${displayPath(line)} is not inside source ${source}`, {
        hint: `list only paths inside ${source} (absolute, or relative to it), or add a source for it`,
      });
    }
    paths.push(rel);
  });
  return paths;
}

/** A policy source as the walk takes it, its `files_from` list read now (a hook may have just written it). */
export function archiveSource(s: Policy['sources'][number]): ArchiveSource {
  const a: ArchiveSource = { path: s.path, exclude: s.exclude, crossFilesystems: s.cross_filesystems, excludeCaches: s.exclude_caches, excludeIfPresent: s.exclude_if_present };
  if (s.exclude_larger_than !== undefined) a.excludeLargerThan = s.exclude_larger_than;
  if (s.files_from !== undefined) a.filesFrom = { file: s.files_from, paths: readFilesFrom(s.files_from, s.path) };
  return a;
}
