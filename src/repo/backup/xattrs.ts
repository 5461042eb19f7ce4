import { ENODATA, EOPNOTSUPP, napiXattr, osErrorOf, type XattrCalls } from '../xattr-native.js';
import { xattrBytes } from '../xattr-bytes.js';
import { nameBytes, withStringPath } from '../../core/names.js';

/** What reading an entry's extended attributes gave: the attributes (absent when none), and any that could not be read. */
export interface XattrRead {
  xattrs?: Record<string, string>;
  /** Attributes listed but not read, with why; or the whole entry (`attribute` undefined) when its attributes could not be listed. */
  failures: { attribute?: string; reason: string }[];
  /** The entry's own name is not UTF-8 and libc's calls could not be loaded (see xattrBytes): nothing was read. */
  unreachable: boolean;
}

/**
 * Every extended attribute the reading user can list on the entry itself (never through a
 * symlink: the l* calls): user.*, trusted.* (root), security.*, and POSIX ACLs as their raw
 * system.posix_acl_access / _default values. Values base64, names sorted, so a tree's id
 * does not depend on the order the kernel lists them in. Costs one listxattr per entry, and
 * one getxattr per attribute it has.
 */
export function readXattrs(path: string): XattrRead {
  const failures: XattrRead['failures'] = [];
  const got = withStringPath(path, (p) => ({ xattrs: readAll(napiXattr, p, failures) }));
  if (got) return { xattrs: got.xattrs, failures, unreachable: false };
  // The entry's own name is not UTF-8: no string reaches it, its bytes do.
  const bytes = xattrBytes();
  return bytes ? { xattrs: readAll(bytes, nameBytes(path), failures), failures, unreachable: false } : { failures, unreachable: true };
}

function readAll<P>(calls: XattrCalls<P>, p: P, failures: XattrRead['failures']): Record<string, string> | undefined {
  let names: string[];
  try {
    names = calls.list(p);
  } catch (err) {
    // A file system without extended attributes lists none.
    if (osErrorOf(err) !== EOPNOTSUPP) failures.push({ reason: (err as Error).message });
    return undefined;
  }
  if (names.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const name of names.sort()) {
    try {
      const v = calls.get(p, name);
      // Removed since it was listed: as if it had never been there.
      if (v !== null) out[name] = v.toString('base64');
    } catch (err) {
      if (osErrorOf(err) !== ENODATA) failures.push({ attribute: name, reason: (err as Error).message });
    }
  }
  return Object.keys(out).length ? out : undefined;
}
