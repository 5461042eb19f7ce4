import { execFileSync } from 'node:child_process';
import { chmodSync, lchownSync, linkSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { displayPath, fsPath, hasEscapedBytes } from '../../core/names.js';
import { TriadError, fsError } from '../../core/errors.js';
import type { TreeNode } from '../model/index.js';
import { replaceable, tryChown, type LinkOptions } from './file-out.js';
import { setEntryTimes } from './precise-times.js';

/**
 * Creates a FIFO or device node with the node's mode, owner (when `owner`) and mtime. Node has
 * no mknod(2): coreutils' mkfifo and mknod make them, one process per entry (such entries are few).
 * Device nodes need root; the caller skips them otherwise.
 */
export function makeSpecial(out: string, node: TreeNode, opts: LinkOptions): void {
  if (!opts.fresh) replaceable(out, opts.overwrite);
  const mode = (node.mode & 0o777).toString(8);
  // A command's arguments are UTF-8 text: a name that is not is made under a stand-in, then renamed.
  const made = hasEscapedBytes(out) ? join(dirname(out), `.triad-special-${process.pid}`) : out;
  const [command, args] = node.type === 'fifo' ? ['mkfifo', ['-m', mode, '--', made]] : ['mknod', ['-m', mode, '--', made, node.type === 'chardev' ? 'c' : 'b', String(node.devMajor), String(node.devMinor)]];
  try {
    execFileSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    if (made !== out) renameSync(fsPath(made), fsPath(out));
  } catch (err) {
    const said = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new TriadError('E_IO', `${displayPath(out)}: ${command} failed: ${said || (err as Error).message}`, { hint: `check that ${command} (coreutils) is installed and the directory is writable` });
  }
  if (opts.owner) tryChown(() => lchownSync(fsPath(out), node.uid, node.gid));
  // After the chown (which clears set-id bits), and exact whatever the umask.
  chmodSync(fsPath(out), node.mode);
  setEntryTimes(out, node);
}

/** Makes `out` another name of the restored file `first` (a hard link: they share content, mode, owner and times). */
export function makeHardLink(first: string, out: string, opts: Pick<LinkOptions, 'fresh' | 'overwrite'>): void {
  if (!opts.fresh) replaceable(out, opts.overwrite);
  try {
    linkSync(fsPath(first), fsPath(out));
  } catch (err) {
    throw fsError(err, out);
  }
}
