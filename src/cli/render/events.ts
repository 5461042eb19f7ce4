import { describeDamagedKeys, describeHookFailure, describeLockHolder, repairIndexHint } from '../../core/describe.js';
import { eventLevel, type AppEvent, type EventLevel, type ProgressEvent } from '../../core/events.js';
import { formatBytes } from '../../core/format.js';

/**
 * The words for the app's typed events: one line of text per event (what a terminal, cron
 * mail or a log shows), the label of a progress bar, and the JSON object of `--json` and
 * `--log-format json`.
 */

/** Longest list of absent packs a warning names; the rest are counted. */
const ABSENT_PACKS_SHOWN = 5;

/** The event as one line of English, without the `warning: ` prefix the terminal adds. */
export function eventText(e: AppEvent): string {
  switch (e.type) {
    case 'progress':
      return progressText(e);
    case 'file-skipped':
    case 'file-changed':
      return `${e.path}: ${e.detail}`;
    case 'file-restore-failed':
      return `${e.path}: ${e.error}`;
    case 'xattr-not-restored':
      return e.attribute === undefined ? `${e.path}: ${e.error}` : `${e.path}: extended attribute ${e.attribute} not restored: ${e.error}`;
    case 'mtime-precision-reduced':
      return `modification times are restored to the microsecond only: koffi did not load (${e.reason})`;
    case 'source-unreadable':
      return `cannot read source ${e.path}: ${e.error}`;
    case 'target-left-out':
      return `target '${e.target}' failed and is left out of this run: ${e.error}`;
    case 'packs-absent':
      return packsAbsentText(e);
    case 'interrupted-packs-reused':
      return `target '${e.target}': reusing ${e.count} pack(s) left by an interrupted run`;
    case 'interrupted-packs-unusable':
      return `target '${e.target}': ${e.count} unreadable pack(s) left by an interrupted run are not used; 'triad prune' removes them after its grace period`;
    case 'snapshot-left-out':
      return `${e.reason}; that snapshot is left out (see 'triad check -p POLICY --target ${e.target}')`;
    case 'damaged-keys-skipped':
      return `target '${e.target}': ${describeDamagedKeys(e.keys)}; skipped ('triad check' reports it)`;
    case 'passphrase-file-exposed':
      return `passphrase file ${e.file} is readable by ${e.readableBy === 'all-users' ? 'all users' : 'its group'} (mode ${e.mode.toString(8).padStart(4, '0')}); run: chmod 600 ${e.file}`;
    case 'storage-retry':
      return `target '${e.target}': ${e.op} ${e.object} failed (${e.errorKind}), retrying in ${Math.round(e.delayMs)} ms`;
    case 'live-lock-removed':
      return `removed the live lock of ${e.holder ? describeLockHolder(e.holder, e.ageMs ?? 0) : e.lock} on target '${e.target}': if that process still runs, it stops when it notices`;
    case 'after-hooks-failed':
      return `${e.hooks.map((h) => describeHookFailure(h)).join('; ')}; the ${e.job} itself completed`;
    case 'hook-failed':
      return describeHookFailure(e.hook);
    case 'failure-hooks-error':
      return `on_failure hooks: ${e.error}`;
    case 'notification-undelivered':
      return `${e.channel === 'heartbeat-start' ? 'heartbeat /start' : e.channel} ${e.url} not delivered after ${e.attempts} attempt(s): ${e.error ?? 'unknown error'}`;
    case 'failed-run-not-recorded':
      return `could not record the failed ${e.job} in the catalogue: ${e.error}`;
    case 'hook-output-not-recorded':
      return `could not add the hook output to the run record: ${e.error}`;
    case 'ownership-not-restored':
      return `ownership not restored: ${e.count} entr${e.count === 1 ? 'y belongs' : 'ies belong'} to other users in the snapshot and now belong to uid ${e.uid} (modes and times are restored; restore as root to restore owners)`;
    case 'devices-not-restored':
      return `device nodes not restored: ${e.count} (${e.first}${e.count > 1 ? ' and others' : ''}); only root can create them: restore as root to recreate them`;
    case 'patterns-matched-nothing':
      return `--${e.option} ${e.patterns.map((p) => `'${p}'`).join(' ')} matched nothing in snapshot ${e.snapshot.slice(0, 8)}${e.option === 'include' ? ': nothing was restored' : ': no entry was left out'} (list it with 'triad ls -p POLICY ${e.snapshot.slice(0, 8)}')`;
    case 'index-damaged-routed':
      return `${e.reason}; the packs no readable index names (${e.packsFromHeaders}) were read from their own headers instead; ${repairIndexHint(e.target)}`;
    case 'pack-reread':
      return `target '${e.target}': pack ${e.pack.slice(0, 12)} read a second time, its first copy failed verification (${e.reason})`;
    case 'weak-key': {
      const targets = e.targets.map((t) => `'${t}'`).join(', ');
      const passwd = `triad key passwd -p ${e.policyFile ?? 'POLICY'}`;
      return `target${e.targets.length === 1 ? '' : 's'} ${targets}: key ${e.key.slice(0, 12)} that this passphrase opens is derived with ${e.kdf}, below ${e.floor}, so the passphrase is cheap to guess from a copy of the repository; run '${passwd}' to rewrite it at full strength (giving the same passphrase again keeps it)`;
    }
    default:
      return unreachable(e);
  }
}

/** What a progress bar or log line calls the work: `backup`, `check nas`, `prune usb: repack`. */
export function progressLabel(e: ProgressEvent): string {
  switch (e.job) {
    case 'backup':
    case 'restore':
      return e.job;
    case 'check':
    case 'restore-test':
      return `${e.job} ${e.target}`;
    case 'repair-index':
      return `repair index ${e.target}`;
    case 'repair-packs':
      return `repair packs ${e.target}`;
    case 'copy':
      return `copy ${e.from}→${e.to}`;
    case 'prune':
      return `prune ${e.target}: ${e.phase}`;
    case 'catalog-rebuild':
      return rebuildLabel(e.phase, e.snapshot);
    case 'fleet-report':
      return 'fleet: reading journal';
    default:
      return unreachable(e);
  }
}

function rebuildLabel(phase: Extract<ProgressEvent, { job: 'catalog-rebuild' }>['phase'], snapshot: string | undefined): string {
  switch (phase) {
    case 'manifests':
      return 'reading snapshots';
    case 'indexes':
      return 'reading indexes';
    case 'snapshot-files':
      return `snapshot ${(snapshot ?? '').slice(0, 8)}`;
    case 'snapshots':
      return 'snapshots';
    case 'journal':
      return 'reading journal';
    default:
      return unreachable(phase);
  }
}

/** `backup: 120/400 files, 1.5 MiB/3.0 MiB, docs/a.txt` for logs; the terminal draws a bar instead. */
function progressText(e: ProgressEvent): string {
  const parts: string[] = [];
  if (e.files !== undefined) parts.push(`${e.files}${e.totalFiles !== undefined ? `/${e.totalFiles}` : ''} files`);
  if (e.bytes !== undefined) parts.push(`${formatBytes(e.bytes)}${e.totalBytes !== undefined ? `/${formatBytes(e.totalBytes)}` : ''}`);
  if (e.path !== undefined) parts.push(e.path);
  return `${progressLabel(e)}: ${parts.join(', ')}`;
}

function packsAbsentText(e: Extract<AppEvent, { type: 'packs-absent' }>): string {
  const shown = e.packs.slice(0, ABSENT_PACKS_SHOWN).map((p) => `${p.pack} (${p.stored === undefined ? 'missing' : `${p.stored} bytes, the index says ${p.indexed}`})`);
  const more = e.packs.length > shown.length ? ` and ${e.packs.length - shown.length} more` : '';
  return (
    `target '${e.target}': ${e.packs.length} pack(s) named by the index are missing or cut short: ${shown.join(', ')}${more}; ` +
    `this backup stores their blobs again from the sources and takes them out of the index; earlier snapshots may need blobs only they held: ` +
    `run 'triad check -p POLICY --target ${e.target}' to see which`
  );
}

/**
 * The event as one JSON object: `type` and `level` first, then its fields, then `message`, the
 * line the text output shows (for people reading a log; programs read the fields).
 */
export function eventJson(e: AppEvent): { type: AppEvent['type']; level: EventLevel; message: string } & Record<string, unknown> {
  const { type, ...fields } = e;
  return { type, level: eventLevel(e), ...fields, message: eventText(e) };
}

function unreachable(x: never): never {
  throw new Error(`unhandled event ${JSON.stringify(x)}`);
}
