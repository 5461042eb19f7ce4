/**
 * The regular files with more than one name that a backup has met, by device and inode. The
 * first name met is read; later names of the same inode take its stored content (its node, once
 * the workers have stored it) and are not read again. An entry is forgotten once all the names
 * its link count announced were met, so memory grows only with link groups still open.
 */
export class LinkGroups<T> {
  private readonly groups = new Map<string, { first: T; left: number }>();

  /** The first name's value when `st` is a later name of a group met before; else undefined, and `first()` becomes the group's value. */
  member(st: { dev: number; ino: number; nlink: number }, first: () => T): { first: T } | undefined {
    const key = `${st.dev}:${st.ino}`;
    const g = this.groups.get(key);
    if (!g) {
      this.groups.set(key, { first: first(), left: st.nlink - 1 });
      return undefined;
    }
    if (--g.left <= 0) this.groups.delete(key);
    return { first: g.first };
  }
}
