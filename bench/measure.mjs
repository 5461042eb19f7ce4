// Runs one command and measures it.
//
// Method: the command runs under GNU time (`/usr/bin/time -f ... -o FILE`), which reports the
// rusage the kernel accumulated for the whole waited-for process tree: user and system CPU
// seconds of every descendant, and ru_maxrss, the high-water RSS of the largest single
// process in the tree (the kernel tracks it exactly; no sampling can miss a peak). Threads
// (Node worker threads, restic's goroutines) share one RSS, so for single-process tools that
// is the figure. In addition, a sampler sums the RSS of all live descendants every 50 ms, which
// catches a tool that forks helpers; the reported peak is the larger of the two. Wall time is
// taken with a monotonic clock around the spawn. Without GNU time, CPU comes from the same
// sampler (utime+stime of the tool, last sample before exit) and is marked approximate.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

const GNU_TIME = '/usr/bin/time';
const PAGE = 4096;
const TICK = 100; // USER_HZ on Linux

export function detectGnuTime() {
  if (!fs.existsSync(GNU_TIME)) return null;
  const v = spawnSync(GNU_TIME, ['--version'], { encoding: 'utf8' });
  const text = `${v.stdout}${v.stderr}`;
  return /GNU/.test(text) ? text.split('\n')[0].trim() : null;
}

const hasGnuTime = detectGnuTime() !== null;
export const method = hasGnuTime ? 'GNU time rusage + 50 ms /proc tree sampler' : '/proc sampler only (install Debian package "time" for exact figures)';

function statFields(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null; // exited meanwhile
  }
}

// /proc/PID/task/TID/children is cheap to read; a full /proc scan every tick would itself
// take a noticeable share of a 2-core machine.
function childrenOf(pid) {
  const kids = [];
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      const t = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'latin1').trim();
      if (t) kids.push(...t.split(' ').map(Number));
    }
  } catch {
    /* exited meanwhile */
  }
  return kids;
}

/** Sum of RSS (bytes) and CPU seconds over pid's descendants (and pid itself unless skipRoot). */
function sampleTree(rootPid, skipRoot) {
  let rss = 0, cpuTicks = 0;
  const visit = (pid, count) => {
    if (count) {
      const f = statFields(pid);
      if (!f) return;
      rss += Number(f[21]) * PAGE;
      // utime stime cutime cstime
      cpuTicks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    }
    for (const c of childrenOf(pid)) visit(c, true);
  };
  visit(rootPid, !skipRoot);
  return { rss, cpu: cpuTicks / TICK };
}

/**
 * Microseconds during which some runnable task waited for a CPU (Linux PSI). On a shared
 * machine this tells how much of a step's wall time was lost to other load.
 */
function cpuStallUs() {
  try {
    const m = /^some .*total=(\d+)/m.exec(fs.readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

let current = null;
/** Kills the command being measured (its whole process group), e.g. on Ctrl-C. */
export function killCurrent() {
  if (current) {
    try {
      process.kill(-current.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
}

/**
 * run(cmd, args, {cwd, env, logDir, name}) →
 *   { exit, wall_s, cpu_s, user_s, sys_s, peak_rss_mib, maxrss_mib, tree_rss_mib, stdout, stderr, approx }
 * stdout/stderr go to files in logDir (tools can print a lot); their heads are returned.
 */
export async function run(cmd, args, { cwd, env, logDir, name }) {
  fs.mkdirSync(logDir, { recursive: true });
  const outFile = path.join(logDir, `${name}.out`);
  const errFile = path.join(logDir, `${name}.err`);
  const timeFile = path.join(logDir, `${name}.time`);
  const out = fs.openSync(outFile, 'w');
  const err = fs.openSync(errFile, 'w');
  const argv = hasGnuTime ? ['-f', '%e %U %S %M %x', '-o', timeFile, '--', cmd, ...args] : args;
  const exe = hasGnuTime ? GNU_TIME : cmd;
  const stall0 = cpuStallUs();
  const load1 = os.loadavg()[0];
  const t0 = process.hrtime.bigint();
  let child;
  const result = await new Promise((resolve) => {
    child = spawn(exe, argv, { cwd, env, stdio: ['ignore', out, err], detached: true });
    current = child;
    let treeRss = 0, lastCpu = 0;
    const tick = () => {
      const s = sampleTree(child.pid, hasGnuTime);
      treeRss = Math.max(treeRss, s.rss);
      if (s.cpu > 0) lastCpu = s.cpu;
    };
    const timer = setInterval(tick, 50);
    tick();
    child.on('error', (e) => {
      clearInterval(timer);
      resolve({ exit: 127, spawnError: e.message, treeRss, lastCpu });
    });
    child.on('exit', (code, signal) => {
      clearInterval(timer);
      resolve({ exit: code ?? 128 + (signal === 'SIGTERM' ? 15 : 9), treeRss, lastCpu });
    });
  });
  current = null;
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  fs.closeSync(out);
  fs.closeSync(err);
  const stall1 = cpuStallUs();
  const m = { exit: result.exit, wall_s: wall, tree_rss_mib: result.treeRss / 1048576, approx: !hasGnuTime, load1 };
  if (stall0 !== null && stall1 !== null) m.cpu_wait_pct = Math.min(100, ((stall1 - stall0) / 1e6 / wall) * 100);
  if (hasGnuTime && fs.existsSync(timeFile)) {
    // GNU time prints "Command exited with non-zero status N" before the format line
    const lines = fs.readFileSync(timeFile, 'utf8').trim().split('\n');
    const [e, u, s, maxKiB, x] = lines[lines.length - 1].trim().split(/\s+/).map(Number);
    if (Number.isFinite(u)) {
      m.user_s = u;
      m.sys_s = s;
      m.cpu_s = u + s;
      m.maxrss_mib = maxKiB / 1024;
      if (Number.isFinite(x)) m.exit = x;
      void e;
    }
  }
  if (m.cpu_s === undefined) m.cpu_s = result.lastCpu;
  m.peak_rss_mib = Math.max(m.maxrss_mib ?? 0, m.tree_rss_mib);
  m.stdout = head(outFile, 64 * 1024);
  m.stderr = head(errFile, 16 * 1024);
  if (result.spawnError) m.stderr = `${result.spawnError}\n${m.stderr}`;
  return m;
}

function head(file, n) {
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(n);
  const len = fs.readSync(fd, buf, 0, n, 0);
  fs.closeSync(fd);
  return buf.subarray(0, len).toString('utf8');
}

/** Lets dirty pages from the previous step reach the disk before the next is timed. */
export function settle() {
  spawnSync('sync');
}

/**
 * Writes dirty pages out, then drops the clean page cache (root only). On an ext4 without a
 * journal, the inode allocator passes over every free inode whose table block is still cached
 * and shows a deletion in the last minute (six if the block is dirty): after one tool's 80,000
 * restored files are deleted, the next tool's restore would measure that, not itself.
 * Returns false when the cache could not be dropped (not root, no /proc).
 */
export function forgetDeletions() {
  settle();
  try {
    fs.writeFileSync('/proc/sys/vm/drop_caches', '1');
    return true;
  } catch {
    return false;
  }
}
