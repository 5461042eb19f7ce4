import { randomToken } from '../../core/token.js';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import type { Clock } from '../../core/clock.js';
import { errnoCode, TriadError } from '../../core/errors.js';
import { isProcessAlive } from './repo-lock.js';

/*
 * The local job lock: a file beside the catalogue so that two runs of one job of one policy on
 * this host never overlap. It has nothing to do with the repository's locks (repo-lock.ts),
 * which other hosts see too.
 */

export interface JobLockRecord {
  pid: number;
  host: string;
  time: string;
  command?: string;
  policy?: string;
  nonce: string;
}

export interface JobLock {
  readonly file: string;
  release(): void;
}

function readJobLock(file: string): JobLockRecord | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  return parseJobLock(text);
}

/** A job lock file's text as a record; anything else reads as an unreadable lock (held, never taken over). */
export function parseJobLock(text: string): JobLockRecord {
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch {
    r = undefined;
  }
  const ok = typeof r === 'object' && r !== null && Number.isSafeInteger((r as JobLockRecord).pid) && typeof (r as JobLockRecord).host === 'string' && typeof (r as JobLockRecord).nonce === 'string';
  return ok ? (r as JobLockRecord) : { pid: 0, host: '', time: '', nonce: 'unreadable' };
}

/**
 * A lock file (created with O_EXCL) so two runs of one policy on this host never overlap,
 * e.g. a slow cron backup and the next one. A file whose process no longer runs on this host
 * is taken over. Held → E_REPO_LOCKED (exit 11) naming the holder.
 */
export function acquireJobLock(file: string, opts: { clock: Clock; host?: string; command?: string; policy?: string; isAlive?: (pid: number) => boolean }): JobLock {
  const host = opts.host ?? hostname();
  const alive = opts.isAlive ?? isProcessAlive;
  const record: JobLockRecord = { pid: process.pid, host, time: opts.clock.now().toISOString(), command: opts.command, policy: opts.policy, nonce: randomToken(8) };
  mkdirSync(dirname(file), { recursive: true });
  // The record is written in full under a private name, then linked into place: a kill can
  // never leave a lock file without its holder's pid (which would block every later run).
  const tmp = `${file}.tmp-${record.nonce}`;
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    writeSync(fd, JSON.stringify(record) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    return takeJobLockFile(file, tmp, record, host, alive, opts.policy);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
  }
}

function takeJobLockFile(file: string, tmp: string, record: JobLockRecord, host: string, alive: (pid: number) => boolean, policy: string | undefined): JobLock {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      linkSync(tmp, file);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
      const other = readJobLock(file);
      if (!other) continue;
      const isStale = other.nonce === 'unreadable' ? false : other.host === host && !alive(other.pid);
      if (!isStale) {
        const who = other.nonce === 'unreadable' ? 'an unreadable lock file' : `${other.host}/${other.pid}${other.command ? ` (${other.command})` : ''} since ${other.time}`;
        const job = policy ? `policy ${policy}` : 'this job';
        throw new TriadError('E_REPO_LOCKED', `${job} is already running on this machine: ${file} is held by ${who}`, {
          hint: `wait for that run to finish; if no triad process runs, remove ${file}`,
          details: { file, holder: other },
        });
      }
      // Take over a dead process's file: move it aside atomically, and only if it is still that file.
      const aside = `${file}.stale-${record.nonce}`;
      try {
        renameSync(file, aside);
      } catch (e) {
        if (errnoCode(e) === 'ENOENT') continue;
        throw e;
      }
      const moved = readJobLock(aside);
      if (moved && moved.nonce !== other.nonce) {
        // Someone replaced it meanwhile with a live lock: put it back if the place is still free.
        try {
          linkSync(aside, file);
        } catch (e) {
          if (errnoCode(e) !== 'EEXIST') throw e;
        }
        unlinkSync(aside);
        continue;
      }
      unlinkSync(aside);
      continue;
    }
    let released = false;
    return {
      file,
      release() {
        if (released) return;
        released = true;
        const cur = readJobLock(file);
        if (cur && cur.nonce === record.nonce) unlinkSync(file);
      },
    };
  }
  throw new TriadError('E_REPO_LOCKED', `could not take the job lock ${file}: other runs keep taking it`, { hint: 'try again' });
}
