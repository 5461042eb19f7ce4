import { describe, expect, it } from 'vitest';
import { eventJson, eventText, progressLabel } from '../../src/cli/render/events.js';
import { EVENT_LEVEL, type AppEvent, type AppEventType, type ProgressEvent } from '../../src/core/events.js';

const hook = { kind: 'after', run: 'pg_dump finance', exitCode: 3, signal: null, timedOut: false, aborted: false } as const;

/** One sample of every variant, and the field values its text line must name. */
const samples: { [T in AppEventType]: { event: Extract<AppEvent, { type: T }>; names: string[] } } = {
  progress: { event: { type: 'progress', job: 'check', target: 'nas', files: 3, totalFiles: 9, bytes: 2048 }, names: ['check nas', '3/9 files', '2.0 KiB'] },
  'file-skipped': { event: { type: 'file-skipped', path: '/srv/a.sock', reason: 'special', detail: 'socket, FIFO or device: skipped' }, names: ['/srv/a.sock', 'socket, FIFO or device: skipped'] },
  'file-changed': { event: { type: 'file-changed', path: '/srv/db.log', detail: 'file changed while it was being read; the snapshot holds the bytes read' }, names: ['/srv/db.log', 'changed while it was being read'] },
  'file-restore-failed': { event: { type: 'file-restore-failed', path: 'docs/a.txt', error: 'EACCES: permission denied' }, names: ['docs/a.txt', 'EACCES'] },
  'devices-not-restored': { event: { type: 'devices-not-restored', count: 2, first: 'dev/loop9' }, names: ['device nodes not restored: 2', 'dev/loop9', 'restore as root'] },
  'xattr-not-restored': { event: { type: 'xattr-not-restored', path: 'src/f\\xff', attribute: 'trusted.x', error: 'Operation not permitted (os error 1)' }, names: ['src/f\\xff', 'extended attribute trusted.x', 'Operation not permitted'] },
  'mtime-precision-reduced': { event: { type: 'mtime-precision-reduced', reason: "Cannot find module 'koffi'" }, names: ['microsecond', "Cannot find module 'koffi'"] },
  'source-unreadable': { event: { type: 'source-unreadable', path: '/srv/x', error: 'EIO' }, names: ['/srv/x', 'EIO'] },
  'target-left-out': { event: { type: 'target-left-out', target: 'usb', error: 'no space left on /mnt/usb' }, names: ["target 'usb'", 'left out of this run', 'no space left on /mnt/usb'] },
  'packs-absent': {
    event: { type: 'packs-absent', target: 'nas', packs: [{ pack: 'aa11', indexed: 100 }, { pack: 'bb22', indexed: 100, stored: 40 }, ...['c', 'd', 'e', 'f', 'g'].map((p) => ({ pack: p.repeat(4), indexed: 1 }))] },
    names: ["target 'nas'", '7 pack(s)', 'aa11 (missing)', 'bb22 (40 bytes, the index says 100)', 'and 2 more', '--target nas'],
  },
  'interrupted-packs-reused': { event: { type: 'interrupted-packs-reused', target: 'nas', count: 4 }, names: ["target 'nas'", 'reusing 4 pack(s)'] },
  'interrupted-packs-unusable': { event: { type: 'interrupted-packs-unusable', target: 'nas', count: 1 }, names: ["target 'nas'", '1 unreadable pack(s)'] },
  'snapshot-left-out': { event: { type: 'snapshot-left-out', target: 'usb', snapshot: 'snapshots/ab12', reason: 'snapshots/ab12: not valid JSON' }, names: ['snapshots/ab12: not valid JSON', '--target usb'] },
  'damaged-keys-skipped': { event: { type: 'damaged-keys-skipped', target: 'nas', keys: [{ id: '0000crafted', reason: 'scrypt parameters too large' }] }, names: ["target 'nas'", 'keys/0000crafted', 'scrypt parameters too large'] },
  'passphrase-file-exposed': { event: { type: 'passphrase-file-exposed', file: '/etc/triad/key', readableBy: 'group', mode: 0o640 }, names: ['/etc/triad/key', 'its group', 'mode 0640', 'chmod 600'] },
  'storage-retry': { event: { type: 'storage-retry', target: 'cloud', op: 'save', object: 'data/ab/ab12', errorKind: 'transient', delayMs: 1234.6 }, names: ["target 'cloud'", 'save data/ab/ab12', '(transient)', 'retrying in 1235 ms'] },
  'live-lock-removed': {
    event: { type: 'live-lock-removed', target: 'nas', lock: 'locks/ff00', holder: { host: 'db1', pid: 4242, kind: 'exclusive', command: 'prune', since: '2025-01-01T00:00:00Z' }, ageMs: 300_000 },
    names: ['db1/4242', 'exclusive lock for prune', 'since 2025-01-01T00:00:00Z, 5m ago', "target 'nas'"],
  },
  'after-hooks-failed': { event: { type: 'after-hooks-failed', job: 'backup', hooks: [hook] }, names: ['after hook "pg_dump finance" exited with code 3', 'the backup itself completed'] },
  'hook-failed': { event: { type: 'hook-failed', hook: { ...hook, kind: 'on_failure', exitCode: null, timedOut: true } }, names: ['on_failure hook "pg_dump finance" timed out and was killed'] },
  'failure-hooks-error': { event: { type: 'failure-hooks-error', error: 'spawn /bin/sh ENOENT' }, names: ['on_failure hooks', 'spawn /bin/sh ENOENT'] },
  'notification-undelivered': { event: { type: 'notification-undelivered', channel: 'heartbeat-start', url: 'https://hc.example/ping/uuid', attempts: 2, error: 'HTTP 503' }, names: ['heartbeat /start', 'https://hc.example/ping/uuid', '2 attempt(s)', 'HTTP 503'] },
  'failed-run-not-recorded': { event: { type: 'failed-run-not-recorded', job: 'prune', error: 'SQLITE_READONLY' }, names: ['failed prune', 'SQLITE_READONLY'] },
  'hook-output-not-recorded': { event: { type: 'hook-output-not-recorded', error: 'SQLITE_BUSY' }, names: ['hook output', 'SQLITE_BUSY'] },
  'ownership-not-restored': { event: { type: 'ownership-not-restored', count: 3, uid: 65534 }, names: ['ownership not restored', '3 entries', 'uid 65534', 'restore as root'] },
  'patterns-matched-nothing': {
    event: { type: 'patterns-matched-nothing', option: 'include', patterns: ['etc/nope/**'], snapshot: 'a1b2c3d4e5f6' },
    names: ["--include 'etc/nope/**'", 'a1b2c3d4', 'nothing was restored'],
  },
  'index-damaged-routed': {
    event: { type: 'index-damaged-routed', target: 'nas', reason: 'integrity error in index/ab12', packsFromHeaders: 6 },
    names: ['index/ab12', '(6)', "triad repair index -p POLICY --target nas"],
  },
  'pack-reread': {
    event: { type: 'pack-reread', target: 'cloud', pack: 'f43dafee63d53e57fe28', reason: 'its content does not match its name (bytes changed or truncated)' },
    names: ["target 'cloud'", 'pack f43dafee63d5 ', 'read a second time', 'its content does not match its name'],
  },
  'weak-key': {
    event: { type: 'weak-key', targets: ['nas', 'usb'], key: 'ecd7d0a049ba77', kdf: 'scrypt N=2^10 r=8 p=1', floor: 'scrypt N=2^15 r=8 p=3', policyFile: '/etc/triad/f.yaml' },
    names: ["targets 'nas', 'usb'", 'key ecd7d0a049ba ', 'scrypt N=2^10 r=8 p=1', "triad key passwd -p /etc/triad/f.yaml"],
  },
};

describe('the text and JSON renderers of app events', () => {
  it('have a sample for every event type (the union and its level table agree)', () => {
    expect(Object.keys(samples).sort()).toEqual(Object.keys(EVENT_LEVEL).sort());
  });

  for (const [type, { event, names }] of Object.entries(samples) as [AppEventType, { event: AppEvent; names: string[] }][]) {
    it(`${type}: one non-empty line naming its fields, and a JSON object with type, level, fields and that line`, () => {
      const line = eventText(event);
      expect(line.length).toBeGreaterThan(0);
      expect(line).not.toContain('\n');
      for (const n of names) expect(line).toContain(n);
      const json = JSON.parse(JSON.stringify(eventJson(event))) as Record<string, unknown>;
      expect(Object.keys(json).slice(0, 2)).toEqual(['type', 'level']);
      expect(json).toEqual({ ...event, level: EVENT_LEVEL[type], message: line });
    });
  }

  it('words today\'s warnings byte for byte', () => {
    expect(eventText(samples['target-left-out'].event)).toBe("target 'usb' failed and is left out of this run: no space left on /mnt/usb");
    expect(eventText(samples['storage-retry'].event)).toBe("target 'cloud': save data/ab/ab12 failed (transient), retrying in 1235 ms");
    expect(eventText(samples['passphrase-file-exposed'].event)).toBe('passphrase file /etc/triad/key is readable by its group (mode 0640); run: chmod 600 /etc/triad/key');
    expect(eventText(samples['interrupted-packs-unusable'].event)).toBe("target 'nas': 1 unreadable pack(s) left by an interrupted run are not used; 'triad prune' removes them after its grace period");
  });

  it('labels progress by job, target and phase as the bar showed them', () => {
    const counts = { type: 'progress', files: 1 } as const;
    const labels = ([
      { ...counts, job: 'backup' },
      { ...counts, job: 'restore' },
      { ...counts, job: 'restore-test', target: 'usb' },
      { ...counts, job: 'repair-index', target: 'nas' },
      { ...counts, job: 'repair-packs', target: 'nas' },
      { ...counts, job: 'copy', from: 'nas', to: 'usb' },
      { ...counts, job: 'prune', target: 'nas', phase: 'repack' },
      { ...counts, job: 'catalog-rebuild', phase: 'manifests' },
      { ...counts, job: 'catalog-rebuild', phase: 'indexes' },
      { ...counts, job: 'catalog-rebuild', phase: 'snapshot-files', snapshot: 'ab12cd34ef56' },
      { ...counts, job: 'catalog-rebuild', phase: 'snapshots' },
      { ...counts, job: 'catalog-rebuild', phase: 'journal' },
    ] satisfies ProgressEvent[]).map(progressLabel);
    expect(labels).toEqual(['backup', 'restore', 'restore-test usb', 'repair index nas', 'repair packs nas', 'copy nas→usb', 'prune nas: repack', 'reading snapshots', 'reading indexes', 'snapshot ab12cd34', 'snapshots', 'reading journal']);
  });
});
