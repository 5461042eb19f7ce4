// The bench corpus: built once per (scale, kind) and cached, edited in place for the "~1%
// change" scenario and put back afterwards, so no tool ever pays for (or is favoured by) a copy.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { bigFiles, codeFile, codeLines, randomBytes, rng, vocabulary } from './gen.mjs';

// Bump when anything below changes the bytes of the corpus, so stale caches are rebuilt.
const FORMAT = 2;
export const LINUX_TARBALL = '/usr/src/linux-source-6.1.tar.xz';
// Files above this are left out of the Linux tree: the 1,101 larger ones are mostly
// generated register headers (~560 MB) and would make the corpus 1.6 GB instead of ~1 GiB.
const MAX_TREE_FILE = 100 * 1024;
const FIXED_MTIME = new Date('2024-01-01T00:00:00Z');

export const SCALES = {
  full: { bigSize: 100 * 1024 * 1024, keepEvery: 1, genFiles: 77500 },
  small: { bigSize: 10 * 1024 * 1024, keepEvery: 10, genFiles: 7750 },
};

function linuxVersion() {
  if (!fs.existsSync(LINUX_TARBALL)) return null;
  const q = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'linux-source-6.1'], { encoding: 'utf8' });
  const st = fs.statSync(LINUX_TARBALL);
  return q.status === 0 && q.stdout ? q.stdout.trim() : `size${st.size}`;
}

export const LINUX_MISSING_HINT =
  'linux-source-6.1 is not installed, so the corpus uses a generated source-like tree instead of the\n' +
  'real Linux 6.1 tree (figures are then NOT comparable with ../shared/MEASURED.md). To use the real tree:\n' +
  '    apt-get update && apt-get install -y linux-source-6.1     (as root; provides ' + LINUX_TARBALL + ')';

/** Walks a tree in sorted order (so every selection made from it is deterministic). */
export function walk(dir, onEntry, rel = '') {
  const entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    onEntry(r, e);
    if (e.isDirectory()) walk(dir, onEntry, r);
  }
}

export function treeStats(dir) {
  const s = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  walk(dir, (rel, e) => {
    if (e.isFile()) {
      s.files++;
      s.bytes += fs.lstatSync(path.join(dir, rel)).size;
    } else if (e.isDirectory()) s.dirs++;
    else if (e.isSymbolicLink()) s.symlinks++;
  });
  return s;
}

/** Apparent and on-disk size of a directory (what `du -sb` and `du -sB1` report). */
export function diskUsage(dir) {
  let apparent = 0, disk = 0;
  if (!fs.existsSync(dir)) return { apparent, disk };
  walk(dir, (rel) => {
    const st = fs.lstatSync(path.join(dir, rel));
    apparent += st.size;
    disk += st.blocks * 512;
  });
  return { apparent, disk };
}

function buildLinuxTree(dest, scale, log) {
  log(`  extracting ${LINUX_TARBALL} (one time, ~20 s) ...`);
  fs.mkdirSync(dest, { recursive: true });
  const t = spawnSync('tar', ['-xJf', LINUX_TARBALL, '-C', dest, '--no-same-owner', '--no-same-permissions'], { stdio: 'inherit' });
  if (t.status !== 0) throw new Error(`tar failed extracting ${LINUX_TARBALL} (exit ${t.status})`);
  let n = 0;
  walk(dest, (rel, e) => {
    if (!e.isFile()) return;
    const p = path.join(dest, rel);
    const big = fs.lstatSync(p).size > MAX_TREE_FILE;
    // keepEvery samples the whole tree evenly, so a small corpus keeps the shape of the full one
    if (big || n++ % scale.keepEvery !== 0) fs.unlinkSync(p);
  });
}

function buildGeneratedTree(dest, scale, vocab, log) {
  log(`  generating a source-like tree of ${scale.genFiles} files ...`);
  const r = rng(7);
  const lines = codeLines(11, vocab);
  const dirs = [''];
  const depth = new Map([['', 0]]);
  const nDirs = Math.round(scale.genFiles / 15);
  for (let i = 0; i < nDirs; i++) {
    let parent = dirs[r.int(dirs.length)];
    if (depth.get(parent) >= 6) parent = '';
    const d = (parent ? parent + '/' : '') + `${vocab[r.int(vocab.length)]}${i % 7 === 0 ? '-' + i : ''}`;
    if (depth.has(d)) continue;
    depth.set(d, depth.get(parent) + 1);
    dirs.push(d);
  }
  for (const d of dirs) fs.mkdirSync(path.join(dest, d), { recursive: true });
  const exts = ['.c', '.c', '.c', '.h', '.h', '.txt', '.rst', '.S', '.yaml', ''];
  for (let i = 0; i < scale.genFiles; i++) {
    const d = dirs[r.int(dirs.length)];
    const name = `${vocab[r.int(vocab.length)]}_${i}${r.pick(exts)}`;
    // log-normal sizes, median ~4.5 KiB, like a source tree; capped like the real tree
    const z = Math.sqrt(-2 * Math.log(1 - r.float())) * Math.cos(2 * Math.PI * r.float());
    const size = Math.min(MAX_TREE_FILE, Math.max(0, Math.round(4600 * Math.exp(1.2 * z))));
    const p = path.join(dest, d, name);
    fs.writeFileSync(p, codeFile(r, lines, size));
    fs.utimesSync(p, FIXED_MTIME, FIXED_MTIME);
  }
}

/**
 * Returns the cached corpus for a scale, building it if needed.
 * { dir, src, tree, big: [paths], kind, manifest }
 */
export function ensureCorpus(root, scaleName, log) {
  const scale = SCALES[scaleName];
  const lv = linuxVersion();
  const kind = lv ? 'linux' : 'generated';
  if (!lv) log(LINUX_MISSING_HINT);
  const dir = path.join(root, `corpus-${scaleName}-${kind}`);
  const key = { format: FORMAT, scale: scaleName, kind, linuxPackage: lv };
  const mfPath = path.join(dir, 'manifest.json');
  if (fs.existsSync(path.join(dir, '.dirty'))) {
    try {
      revertChanges(dir);
      log('  reverted edits left by an interrupted run');
    } catch {
      log('  an interrupted run left the corpus edited; rebuilding it');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  let manifest = null;
  try {
    manifest = JSON.parse(fs.readFileSync(mfPath, 'utf8'));
    if (JSON.stringify(manifest.key) !== JSON.stringify(key)) manifest = null;
  } catch {
    manifest = null;
  }
  if (!manifest) {
    log(`building the ${scaleName} corpus (${kind}) in ${dir} ...`);
    const t0 = Date.now();
    const tmp = `${dir}.tmp`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
    const src = path.join(tmp, 'src');
    fs.mkdirSync(src, { recursive: true });
    const vocab = vocabulary(3);
    if (kind === 'linux') buildLinuxTree(path.join(src, 'tree'), scale, log);
    else buildGeneratedTree(path.join(src, 'tree'), scale, vocab, log);
    log(`  generating 3 mixed files of ${scale.bigSize / 1048576} MiB ...`);
    fs.mkdirSync(path.join(src, 'big'));
    bigFiles(scale.bigSize, vocab).forEach((buf, i) => {
      const p = path.join(src, 'big', `mixed-${i + 1}.bin`);
      fs.writeFileSync(p, buf);
      fs.utimesSync(p, FIXED_MTIME, FIXED_MTIME);
    });
    const stats = treeStats(src);
    manifest = { key, ...stats, builtIn: `${((Date.now() - t0) / 1000).toFixed(1)} s` };
    fs.writeFileSync(path.join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 2));
    fs.renameSync(tmp, dir);
    log(`  done in ${manifest.builtIn}`);
  }
  const src = path.join(dir, 'src');
  const big = [1, 2, 3].map((i) => path.join(src, 'big', `mixed-${i}.bin`));
  return { dir, src, tree: path.join(src, 'tree'), bigDir: path.join(src, 'big'), big, kind, scale: scaleName, manifest };
}

/** Reads every file once so each tool starts with the same warm page cache. */
export function warmCache(src) {
  walk(src, (rel, e) => {
    if (e.isFile()) fs.readFileSync(path.join(src, rel));
  });
}

/**
 * The "~1% change": rewrite some small files (a line inserted mid-file, one appended),
 * insert 4099 bytes in the middle of one big file, add a few files (one of them a copy of a
 * region of another big file). Originals are moved aside, never modified, and put back by
 * revertChanges(). Returns a description of what changed.
 */
export function applyChanges(corpus) {
  const { dir, src } = corpus;
  const saved = path.join(dir, 'saved');
  fs.rmSync(saved, { recursive: true, force: true });
  fs.mkdirSync(saved);
  fs.writeFileSync(path.join(dir, '.dirty'), '');
  const journal = { moved: [], added: 'added-by-bench' };
  const move = (rel) => {
    const to = path.join(saved, String(journal.moved.length));
    journal.moved.push({ rel, to });
    fs.writeFileSync(path.join(saved, 'journal.json'), JSON.stringify(journal));
    fs.renameSync(path.join(src, rel), to);
    return to;
  };
  const r = rng(42);
  const budget = corpus.manifest.bytes * 0.005;
  const candidates = [];
  walk(corpus.tree, (rel, e) => {
    if (e.isFile()) candidates.push(`tree/${rel}`);
  });
  let modFiles = 0, modBytes = 0;
  for (let i = 13; i < candidates.length && modBytes < budget; i += 97) {
    const rel = candidates[i];
    const orig = fs.readFileSync(path.join(src, rel));
    if (orig.length < 200) continue;
    const nl = orig.indexOf(10, orig.length >> 1);
    const cut = nl < 0 ? orig.length >> 1 : nl + 1;
    const next = Buffer.concat([
      orig.subarray(0, cut),
      Buffer.from(`/* triad bench edit ${modFiles}: ${r.u32().toString(16)} */\n`),
      orig.subarray(cut),
      Buffer.from(`// appended by the bench, ${modFiles}\n`),
    ]);
    move(rel);
    fs.writeFileSync(path.join(src, rel), next);
    modFiles++;
    modBytes += next.length;
  }
  const bigRel = 'big/mixed-2.bin';
  const big = fs.readFileSync(path.join(src, bigRel));
  const at = (big.length >> 1) + 12345;
  const ins = randomBytes('insert', 4099);
  move(bigRel);
  fs.writeFileSync(path.join(src, bigRel), Buffer.concat([big.subarray(0, at), ins, big.subarray(at)]));

  const addDir = path.join(src, journal.added);
  fs.mkdirSync(addDir);
  const k = corpus.manifest.bytes / (1074 * 1e6);
  const lines = codeLines(99, vocabulary(5), 2000);
  let addFiles = 0, addBytes = 0;
  const add = (name, buf) => {
    fs.writeFileSync(path.join(addDir, name), buf);
    addFiles++;
    addBytes += buf.length;
  };
  for (let i = 0; i < 12; i++) add(`new-${i}.c`, codeFile(r, lines, Math.round(40960 * k)));
  const b1 = fs.readFileSync(corpus.big[0]);
  add('copy-of-mixed-1-region.bin', b1.subarray(b1.length >> 1, (b1.length >> 1) + Math.round(4 * 1048576 * k)));
  add('fresh-random.bin', randomBytes('added', Math.round(2 * 1048576 * k)));
  return {
    modifiedFiles: modFiles,
    modifiedBytes: modBytes,
    bigFileInsert: { file: bigRel, offset: at, bytes: ins.length },
    addedFiles: addFiles,
    addedBytes: addBytes,
    text: `${modFiles} small files rewritten (${mb(modBytes)} MB), 4099 bytes inserted mid-${bigRel}, ${addFiles} files added (${mb(addBytes)} MB)`,
  };
}

export function revertChanges(dir) {
  const saved = path.join(dir, 'saved');
  const src = path.join(dir, 'src');
  const jf = path.join(saved, 'journal.json');
  if (fs.existsSync(jf)) {
    const journal = JSON.parse(fs.readFileSync(jf, 'utf8'));
    fs.rmSync(path.join(src, journal.added), { recursive: true, force: true });
    for (const m of journal.moved) {
      if (fs.existsSync(m.to)) fs.renameSync(m.to, path.join(src, m.rel));
    }
  }
  fs.rmSync(saved, { recursive: true, force: true });
  fs.rmSync(path.join(dir, '.dirty'), { force: true });
}

const mb = (b) => (b / 1e6).toFixed(1);
