import { napiXattr, type XattrCalls } from '../xattr-native.js';
import { xattrBytes } from '../xattr-bytes.js';
import { nameBytes, withStringPath } from '../../core/names.js';

/** An extended attribute a restore could not set (`attribute` undefined: none could be, the name reaches no string path). */
export interface XattrFailure {
  attribute?: string;
  reason: string;
}

/**
 * Sets the recorded extended attributes on the restored entry itself (never through a
 * symlink). What the kernel refuses (trusted.* when not root, user.* on a symlink, a file
 * system without them) is returned, never thrown: the entry stays restored.
 */
export function writeXattrs(path: string, xattrs: Record<string, string>): XattrFailure[] {
  const failures: XattrFailure[] = [];
  const done = withStringPath(path, (p) => setAll(napiXattr, p, xattrs, failures));
  if (done) return failures;
  // The entry's own name is not UTF-8: no string reaches it, its bytes do.
  const bytes = xattrBytes();
  if (bytes) setAll(bytes, nameBytes(path), xattrs, failures);
  else failures.push({ reason: 'its name is not UTF-8, which the extended attribute calls cannot take: its attributes are not set' });
  return failures;
}

function setAll<P>(calls: XattrCalls<P>, p: P, xattrs: Record<string, string>, failures: XattrFailure[]): true {
  for (const [name, value] of Object.entries(xattrs)) {
    try {
      calls.set(p, name, Buffer.from(value, 'base64'));
    } catch (err) {
      failures.push({ attribute: name, reason: (err as Error).message });
    }
  }
  return true;
}
