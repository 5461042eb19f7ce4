import { closeSync, cpSync, existsSync, ftruncateSync, mkdirSync, openSync, readdirSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { openLocalStorage } from '../../src/backends/local.js';
import { fixedClock } from '../../src/core/clock.js';
import { MasterIndex } from '../../src/repo/index/index-store.js';
import { Repository } from '../../src/repo/repository.js';
import { sealSnapshot, type SnapshotManifest } from '../../src/repo/model/snapshot.js';
import type { TreeNode } from '../../src/repo/model/tree.js';
import { MultiTargetWriter } from '../../src/repo/backup/writer.js';
import { bytes } from '../helpers/tree.js';
import { PASS } from '../helpers/triad.js';

/** A small source tree with sizes from empty to a few MiB, nested and with awkward names. */
export function makeSource(root: string): void {
  mkdirSync(join(root, 'docs', 'deep'), { recursive: true });
  mkdirSync(join(root, 'ünïcödé ✓'), { recursive: true });
  writeFileSync(join(root, 'big.bin'), bytes(11, 3 * 1024 * 1024));
  writeFileSync(join(root, 'mid.bin'), bytes(12, 200 * 1024));
  writeFileSync(join(root, 'docs', 'readme.txt'), bytes(13, 5000, true));
  writeFileSync(join(root, 'docs', 'deep', 'notes & <tags>.md'), bytes(14, 12345, true));
  writeFileSync(join(root, 'docs', 'empty.txt'), '');
  writeFileSync(join(root, 'ünïcödé ✓', 'résumé.txt'), bytes(15, 777, true));
  writeFileSync(join(root, 'tiny.txt'), 'x');
}

/** Pack files of a local replica, largest first. */
export function packFiles(repoDir: string): string[] {
  return readdirSync(join(repoDir, 'data'), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort((a, b) => statSync(b).size - statSync(a).size);
}

export function journalCount(repoDir: string): number {
  return existsSync(join(repoDir, 'journal')) ? readdirSync(join(repoDir, 'journal')).length : 0;
}

export function flipByte(file: string, at: number): void {
  const fd = openSync(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at);
    b[0] = b[0]! ^ 0xff;
    writeSync(fd, b, 0, 1, at);
  } finally {
    closeSync(fd);
  }
}

export function truncateFile(file: string, size: number): void {
  const fd = openSync(file, 'r+');
  try {
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
}

/** Replaces `dirs` under `work` with their copies under `pristine`. */
export function resetFrom(pristine: string, work: string, dirs: string[]): void {
  for (const d of dirs) {
    rmSync(join(work, d), { recursive: true, force: true });
    cpSync(join(pristine, d), join(work, d), { recursive: true });
  }
}

/**
 * Writes, on every given local replica, a snapshot whose root tree holds `ok.txt` (real
 * data) and `ghost.bin`, whose content names a blob that no pack holds: what a damaged or
 * crafted repository looks like to a restore.
 */
export async function craftSnapshotWithMissingBlob(repoDirs: Record<string, string>, policy: string): Promise<{ id: string; missingBlob: string }> {
  const sessions = [];
  for (const [name, dir] of Object.entries(repoDirs)) {
    const storage = await openLocalStorage(dir);
    const repo = await Repository.open(name, storage, PASS.TEST_PASSPHRASE);
    sessions.push({ name, repo, index: await MasterIndex.load(repo), bytesWritten: 0, packsWritten: 0 });
  }
  const repo = sessions[0]!.repo;
  const writer = new MultiTargetWriter(sessions, 'auto');
  const data = Buffer.from('a file that is really there\n');
  const dataId = repo.blobId(data);
  await writer.add('data', dataId, data);
  const missingBlob = repo.blobId(Buffer.from('never stored anywhere')).toString('hex');
  const base = { mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000_000 };
  const nodes: TreeNode[] = [
    { ...base, name: 'ghost.bin', type: 'file', size: 21, content: [missingBlob], hash: missingBlob },
    { ...base, name: 'ok.txt', type: 'file', size: data.length, content: [dataId.toString('hex')], hash: dataId.toString('hex') },
  ];
  const treeBytes = Buffer.from(JSON.stringify({ nodes }));
  const treeId = repo.blobId(treeBytes);
  await writer.add('tree', treeId, treeBytes);
  await writer.finishData();
  const clock = fixedClock('2030-01-01T00:00:00Z');
  const manifest: SnapshotManifest = {
    version: 1, time: clock.now().toISOString(), finished: clock.now().toISOString(), policy, host: 'crafted', paths: ['/crafted'],
    tree: treeId.toString('hex'), partial: false, tags: [],
    summary: { files: 2, dirs: 0, bytes: 21 + data.length, filesNew: 2, filesChanged: 0, filesUnchanged: 0, bytesRead: 0, dataAdded: 0, dataAddedPacked: 0, blobsNew: 0, warnings: 0 },
  };
  const { id, sealed } = sealSnapshot(repo, manifest);
  await writer.saveEverywhere(`snapshots/${id}`, sealed);
  for (const s of sessions) await s.repo.storage.close();
  return { id, missingBlob };
}

export interface JunitCase {
  '@_classname': string;
  '@_name': string;
  failure?: { '@_type': string; '@_message': string; '#text'?: string };
  skipped?: unknown;
}
export interface JunitSuite {
  '@_name': string;
  '@_tests': string;
  '@_failures': string;
  testcase: JunitCase[];
}

/** Parses a JUnit file with a real XML parser, after checking it is well-formed. */
export function parseJunit(xml: string): { '@_tests': string; '@_failures': string; testsuite: JunitSuite[] } {
  const parser = new XMLParser({ ignoreAttributes: false, isArray: (name) => name === 'testsuite' || name === 'testcase' || name === 'property' });
  const doc = parser.parse(xml, true) as { testsuites: { '@_tests': string; '@_failures': string; testsuite: JunitSuite[] } };
  return doc.testsuites;
}
