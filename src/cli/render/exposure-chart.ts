import { formatDuration, formatTime } from '../../core/format.js';
import type { BreachInterval, ExposurePoint } from '../../compliance/types.js';

/**
 * The exposure chart of one copy as a static SVG: a pure function, no library (none is in
 * the dependencies, and the chart needs only lines, rectangles and text). Readable without
 * colour: the RPO line is dashed and labelled, breaches are hatched, the last backup is a
 * labelled vertical line; every text is escaped.
 */
export interface ExposureChartInput {
  readonly id: string;
  readonly title: string;
  readonly series: readonly ExposurePoint[];
  readonly rpoMs: number | null;
  readonly from: Date;
  readonly to: Date;
  readonly zone: string;
  readonly breaches: readonly BreachInterval[];
  /** Recovery point of the newest complete snapshot; null when none. */
  readonly lastBackup: Date | null;
  readonly escape: (s: string) => string;
}

const W = 640;
const H = 200;
const M = { left: 64, right: 16, top: 18, bottom: 40 };
const X_TICKS = 5;

export function exposureChartSvg(c: ExposureChartInput): string {
  const e = c.escape;
  const t0 = c.from.getTime();
  const t1 = Math.max(c.to.getTime(), t0 + 1);
  const pts = c.series.filter((p) => p.exposureMs !== null);
  const maxY = Math.max(c.rpoMs ?? 0, ...pts.map((p) => p.exposureMs!), 1) * 1.15;
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const x = (ms: number): number => M.left + ((Math.min(Math.max(ms, t0), t1) - t0) / (t1 - t0)) * plotW;
  const y = (ms: number): number => M.top + plotH - (ms / maxY) * plotH;
  const n = (v: number): string => v.toFixed(1);
  const parts: string[] = [];
  const pattern = `hatch-${c.id}`;
  parts.push(`<defs><pattern id="${pattern}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="#c0392b" stroke-width="2"/></pattern></defs>`);
  for (const b of c.breaches) {
    const a = x(b.start.getTime());
    const z = x((b.end ?? c.to).getTime());
    parts.push(`<rect class="breach" x="${n(a)}" y="${M.top}" width="${n(Math.max(z - a, 1))}" height="${plotH}" fill="url(#${pattern})" fill-opacity="0.35"><title>${e(`breach ${formatTime(b.start, c.zone)} to ${b.end ? formatTime(b.end, c.zone) : 'now'}`)}</title></rect>`);
  }
  // Axes with ticks: time in the policy's zone below, exposure on the left.
  parts.push(`<line class="axis x-axis" x1="${M.left}" y1="${M.top + plotH}" x2="${W - M.right}" y2="${M.top + plotH}" stroke="#222"/>`);
  parts.push(`<line class="axis y-axis" x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + plotH}" stroke="#222"/>`);
  for (let i = 0; i <= X_TICKS; i++) {
    const ms = t0 + ((t1 - t0) * i) / X_TICKS;
    const label = formatTime(new Date(ms), c.zone).replace(/ \S+$/, '').slice(5);
    const anchor = i === 0 ? 'start' : i === X_TICKS ? 'end' : 'middle';
    parts.push(`<line x1="${n(x(ms))}" y1="${M.top + plotH}" x2="${n(x(ms))}" y2="${M.top + plotH + 4}" stroke="#222"/><text class="tick x-tick" x="${n(x(ms))}" y="${M.top + plotH + 16}" text-anchor="${anchor}">${e(label)}</text>`);
  }
  parts.push(`<text class="axis-label" x="${M.left + plotW / 2}" y="${H - 4}" text-anchor="middle">${e(`time (${formatTime(c.to, c.zone).split(' ').pop() ?? c.zone})`)}</text>`);
  const yTicks = c.rpoMs === null ? [0, maxY / 1.15] : [0, c.rpoMs / 2, c.rpoMs];
  for (const v of yTicks) {
    parts.push(`<line x1="${M.left - 4}" y1="${n(y(v))}" x2="${M.left}" y2="${n(y(v))}" stroke="#222"/><text class="tick y-tick" x="${M.left - 6}" y="${n(y(v) + 4)}" text-anchor="end">${e(v === 0 ? '0' : formatDuration(v))}</text>`);
  }
  parts.push(`<text class="axis-label" x="12" y="${M.top + plotH / 2}" transform="rotate(-90 12 ${M.top + plotH / 2})" text-anchor="middle">exposure</text>`);
  // The RPO label sits at the left end of its line: the last-backup label takes the top right.
  if (c.rpoMs !== null) {
    parts.push(`<line class="rpo-line" x1="${M.left}" x2="${W - M.right}" y1="${n(y(c.rpoMs))}" y2="${n(y(c.rpoMs))}" stroke="#c0392b" stroke-dasharray="6 4"/><text class="rpo-label" x="${M.left + 4}" y="${n(y(c.rpoMs) - 4)}" text-anchor="start">${e(`RPO ${formatDuration(c.rpoMs)}`)}</text>`);
  }
  for (const seg of segments(c.series)) {
    parts.push(`<polyline class="exposure" fill="none" stroke="#2c3e50" stroke-width="1.5" points="${seg.map((p) => `${n(x(p.at.getTime()))},${n(y(p.exposureMs))}`).join(' ')}"/>`);
  }
  if (c.lastBackup !== null && c.lastBackup.getTime() >= t0) {
    const lx = x(c.lastBackup.getTime());
    parts.push(`<line class="last-backup" x1="${n(lx)}" x2="${n(lx)}" y1="${M.top}" y2="${M.top + plotH}" stroke="#1e7d32" stroke-width="1.5"/><text class="last-backup-label" x="${n(lx > W / 2 ? lx - 3 : lx + 3)}" y="${M.top + 10}" text-anchor="${lx > W / 2 ? 'end' : 'start'}">${e(`last backup ${lastBackupTime(c.lastBackup, c.to, c.zone)}`)}</text>`);
  }
  return `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${e(c.title)}"><title>${e(c.title)}</title>${parts.join('')}</svg>`;
}

/** The clock time alone within a day of the chart's end, else the date too. */
function lastBackupTime(at: Date, end: Date, zone: string): string {
  const text = formatTime(at, zone);
  return end.getTime() - at.getTime() < DAY_MS ? text.slice(11) : text;
}

const DAY_MS = 86_400_000;

/** Runs of points with a defined exposure (no line across the time before the first snapshot). */
function segments(series: readonly ExposurePoint[]): { at: Date; exposureMs: number }[][] {
  const out: { at: Date; exposureMs: number }[][] = [];
  let cur: { at: Date; exposureMs: number }[] = [];
  for (const p of series) {
    if (p.exposureMs === null) {
      if (cur.length > 0) out.push(cur);
      cur = [];
    } else cur.push({ at: p.at, exposureMs: p.exposureMs });
  }
  if (cur.length > 0) out.push(cur);
  return out.filter((s) => s.length > 1);
}
