import { lstatSync, constants as fsc } from 'node:fs';
import type { SpecialType } from '../model/index.js';
import { fsPath } from '../../core/names.js';

/** The node type of a FIFO or device by its lstat mode; undefined for every other kind. */
export function specialTypeOf(mode: number): SpecialType | undefined {
  switch (mode & fsc.S_IFMT) {
    case fsc.S_IFIFO:
      return 'fifo';
    case fsc.S_IFCHR:
      return 'chardev';
    case fsc.S_IFBLK:
      return 'blockdev';
    default:
      return undefined;
  }
}

/** A device node's major and minor numbers (Linux's encoding of st_rdev, as glibc's major()/minor() decode it). */
export function deviceNumbers(path: string): { devMajor: number; devMinor: number } {
  const rdev = lstatSync(fsPath(path), { bigint: true }).rdev;
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return { devMajor: Number(major), devMinor: Number(minor) };
}
