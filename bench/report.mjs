// Plain-text tables: the comparison (triad vs each peer) and the full figures per tool.

function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return undefined;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median figures of one scenario, or its failure/skip reason. */
export function summarize(list) {
  if (!list?.length) return null;
  const ok = list.filter((m) => m.exit === 0 || m.partial);
  if (!ok.length) {
    const skipped = list.find((m) => m.skipped);
    return skipped ? { status: 'skipped', reason: skipped.skipped } : { status: 'failed', reason: list[0].error ?? `exit ${list[0].exit}` };
  }
  const med = (k) => median(ok.map((m) => m[k]));
  return {
    status: ok.some((m) => m.partial) ? 'partial' : ok.length === list.length ? 'ok' : 'some runs failed',
    reason: ok.find((m) => m.partial)?.partial,
    n: ok.length,
    wall_s: med('wall_s'),
    mb_per_s: med('mb_per_s'),
    cpu_s: med('cpu_s'),
    peak_rss_mib: med('peak_rss_mib'),
    cpu_wait_pct: med('cpu_wait_pct'),
    size_mb: med('size_mb'),
    disk_mb: med('disk_mb'),
    fetched_mb: med('fetched_mb'),
    requests: med('requests'),
    needed_mb: med('needed_mb'),
    stored_mb: med('stored_mb'),
  };
}

function table(rows, align) {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => (align[i] === 'l' ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  ');
  return [line(rows[0]), w.map((n) => '-'.repeat(n)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

const f = (x, d = 2) => (x === undefined ? '' : x.toFixed(d));

function primary(s, key) {
  if (!s) return undefined;
  return key === 'repo_size' ? s.size_mb : s.wall_s;
}

function cell(s, key) {
  if (!s) return '—';
  if (s.status === 'failed') return 'fail';
  if (s.status === 'skipped') return 'skip';
  return (key === 'repo_size' ? f(s.size_mb, 0) : f(s.wall_s)) + (s.status === 'partial' ? '!' : '');
}

export function printTables({ results, avail, scenarios, log }) {
  const peers = Object.keys(avail).filter((n) => n !== 'triad' && avail[n].ok);
  const summary = {};
  for (const tool of Object.keys(results)) {
    summary[tool] = {};
    for (const [key] of scenarios) {
      const s = summarize(results[tool][key]);
      if (s) summary[tool][key] = s;
    }
  }
  const tr = summary.triad ?? {};
  const header = ['scenario', 'triad s', 'MB/s', 'CPU s', 'RSS MiB'];
  for (const p of peers) header.push(`${p} s`, `triad/${p}`);
  const rows = [header];
  const ratios = {};
  for (const [key, label] of scenarios) {
    const t = tr[key];
    if (!t && !peers.some((p) => summary[p]?.[key])) continue;
    const ok = t && t.status !== 'failed' && t.status !== 'skipped';
    const row = [label, avail.triad?.ok ? cell(t, key) : 'n/a', ok ? f(t.mb_per_s, 0) : '', ok ? f(t.cpu_s, 1) : '', ok ? f(t.peak_rss_mib, 0) : ''];
    for (const p of peers) {
      const s = summary[p]?.[key];
      row.push(cell(s, key));
      const a = ok ? primary(t, key) : undefined;
      const b = s && s.status !== 'failed' && s.status !== 'skipped' ? primary(s, key) : undefined;
      if (a !== undefined && b) {
        (ratios[key] ??= {})[p] = a / b;
        row.push(f(a / b));
      } else row.push('');
    }
    rows.push(row);
  }
  log('triad compared with its peers (seconds; repository size in MB; ratio < 1 means triad is faster/smaller)');
  log(table(rows, ['l']));
  if (rows.some((row) => row.some((c) => String(c).endsWith('!')))) log('! = partial snapshot (exit 3: some files were not read), see below');
  log();

  const drows = [['tool', 'scenario', 'wall s', 'MB/s', 'CPU s', 'peak RSS MiB', 'CPU wait %', 'result']];
  for (const tool of Object.keys(summary)) {
    for (const [key, label] of scenarios) {
      const s = summary[tool][key];
      if (!s) continue;
      if (s.status === 'failed' || s.status === 'skipped') {
        drows.push([tool, label, '', '', '', '', '', `${s.status}: ${s.reason.split('\n')[0].slice(0, 70)}`]);
      } else if (key === 'repo_size') {
        drows.push([tool, label, '', '', '', '', '', `${f(s.size_mb, 0)} MB (${f(s.disk_mb, 0)} MB on disk)`]);
      } else {
        const res = s.status === 'ok' ? (s.n > 1 ? `median of ${s.n}` : 'ok') : s.status === 'partial' ? `PARTIAL snapshot: ${s.reason.slice(0, 60)}` : s.status;
        drows.push([tool, label, f(s.wall_s), f(s.mb_per_s, 0), f(s.cpu_s, 1), f(s.peak_rss_mib, 0), f(s.cpu_wait_pct, 0), res]);
      }
    }
  }
  log('all figures (MB/s = source bytes / wall time; CPU = user + sys of the process tree)');
  log(table(drows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'l']));
  log('CPU wait % = share of the wall time during which some task waited for a CPU (Linux PSI): other load on a shared machine');
  log();
  const frows = [['scenario', 'wall s', 'fetched MB', 'requests', 'needed MB', 'fetched / needed']];
  for (const [key, label] of scenarios) {
    const s = summary.triad?.[key];
    if (s?.fetched_mb === undefined) continue;
    const needed = s.needed_mb ?? s.stored_mb;
    frows.push([label, f(s.wall_s), f(s.fetched_mb, 1), f(s.requests, 0), f(needed, 1), needed ? f(s.fetched_mb / needed) : '']);
  }
  if (frows.length > 1) {
    log('triad: bytes fetched by reading commands (needed = sampled / included file bytes; for the S3 restore, what the backup stored)');
    log(table(frows, ['l']));
    log();
  }
  return { medians: summary, ratios };
}
