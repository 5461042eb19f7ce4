import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASS, ROOT, scratchDir, triad, writePolicy } from '../helpers/triad.js';

/**
 * The HTML report as a reader sees it: rendered by headless Chromium (Debian's `chromium`),
 * for a compliant policy, a breached one and a directory of three policies. The rendered DOM
 * is checked for every section, the chart SVGs for axes and labels; PNG screenshots and a PDF
 * print land in test-output/report-html/ for a person to look at.
 *
 * Three policies on the same data, real backups at 00:00 and 00:00:15 and a restore test at
 * 00:30 (2026-05-04, policy zone Europe/Berlin), evaluated at 05:00 UTC:
 *   calm   RPO 12h → OK          tight  RPO 6h → WARNING (5h > 80 %)      late   RPO 4h → CRITICAL
 */
const OUT = join(ROOT, 'test-output', 'report-html');
const t = (hhmm: string, ss = '00'): string => `2026-05-04T${hhmm}:${ss}Z`;
const AT = t('05:00');
let dir: string;
let policies: string;
let chromium: string;

function ensureChromium(): string {
  const found = spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).stdout.trim();
  if (found) return found;
  if (process.getuid?.() !== 0) throw new Error('this test needs Debian\'s chromium: run `apt-get install chromium` as root (the test installs it itself when run as root)');
  execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return ensureChromium();
}

function chrome(args: string[]): string {
  return execFileSync(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--no-first-run', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 120_000 });
}

/** Renders FILE's report, dumps the rendered DOM, and writes a screenshot and a PDF named NAME. */
function render(name: string, args: string[]): { dom: string; text: string } {
  const html = join(OUT, `${name}.html`);
  const r = triad(['report', ...args, '--at', AT, '--format', 'html', '--output', html], { env: PASS });
  expect([0, 4]).toContain(r.code);
  // One browser start does all three: the DOM on stdout, the screenshot and the PDF as files.
  const dom = chrome(['--dump-dom', `--screenshot=${join(OUT, `${name}.png`)}`, '--window-size=1100,4200', `--print-to-pdf=${join(OUT, `${name}.pdf`)}`, '--no-pdf-header-footer', `file://${html}`]);
  for (const ext of ['png', 'pdf']) expect(statSync(join(OUT, `${name}.${ext}`)).size).toBeGreaterThan(10_000);
  expect(readFileSync(join(OUT, `${name}.pdf`)).subarray(0, 5).toString()).toBe('%PDF-');
  const text = dom.replace(/<style>[\s\S]*?<\/style>/g, '').replace(/<[^>]+>/g, ' ').replace(/&amp;/g, '&').replace(/\s+/g, ' ');
  return { dom, text };
}

beforeAll(() => {
  chromium = ensureChromium();
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  dir = scratchDir('triad-report-html-');
  policies = join(dir, 'policies');
  mkdirSync(policies);
  const src = join(dir, 'src');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'ledger.txt'), 'ledger 2026\n'.repeat(5_000));
  const env = (now: string): Record<string, string> => ({ ...PASS, TRIAD_TEST_NOW: now });
  const files = (['calm:12h', 'tight:6h', 'late:4h'] as const).map((spec) => {
    const [name, rpo] = spec.split(':') as [string, string];
    const file = writePolicy(policies, {
      name,
      sources: [src],
      targets: {
        nas: { type: 'local', path: join(dir, name, 'nas'), media: 'nas', offsite: false },
        usb: { type: 'local', path: join(dir, name, 'usb'), media: 'removable', offsite: true },
      },
      extra: {
        catalog: join(dir, 'catalog.db'), timezone: 'Europe/Berlin', production: { media: 'ssd' }, objectives: { rpo, rto: '2h', window: '1d' }, schedule: { backup: '0 */4 * * *' }, restore_test: { every: '30d' },
        ...(name === 'calm' ? { keys: { prove_every: '180d' } } : {}),
      },
    });
    expect(triad(['init', '-p', file], { env: env(t('00:00')) }).code).toBe(0);
    return file;
  });
  for (const [when, ss] of [['00:00', '00'], ['00:00', '15']] as const) {
    if (ss === '15') writeFileSync(join(src, 'journal.bin'), Buffer.alloc(1_000_000, 5));
    for (const f of files) expect(triad(['backup', '-p', f, '--time', t(when, ss)], { env: env(t(when, ss)) }).code).toBe(0);
  }
  for (const f of files) expect(triad(['restore-test', '-p', f], { env: env(t('00:30')) }).code).toBe(0);
  // calm: its key proven on every target, and its nas copy read whole once.
  const calm = files[0]!;
  expect(triad(['key', 'verify', '-p', calm, '--passphrase-env', 'TEST_PASSPHRASE'], { env: env(t('00:35')) }).code).toBe(0);
  expect(triad(['check', '-p', calm, '--target', 'nas', '--read-data'], { env: env(t('00:40')) }).code).toBe(0);
}, 600_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const SECTIONS = ['3-2-1 matrix', 'RPO 12h per copy', 'Exposure of nas over the window', 'Breaches', 'RTO 2h evidence', 'Restore tests (every 30d)', 'Restore-test history (last 1d)', 'Backups', 'Capacity', 'Findings, worst first'];

describe('the HTML report in headless Chromium', () => {
  it('a compliant policy: the verdict sentence first, every section filled, charts with axes and labels', () => {
    const { dom, text } = render('compliant', ['-p', join(policies, 'calm.yaml')]);
    // Obligations began with the first backup (00:00:15 UTC), inside the 1-day window.
    expect(text).toMatch(/Verdict OK calm: within contract since 2026-05-04 02:00 CEST, when its obligations began; last restore test 4h 30m ago passed in \d+(ms|s) on nas and usb; RTO 2h met with 2h margin on nas Policy calm /);
    expect(text).toContain('Copy Media Off-site Immutable/offline Counts now production ssd no no yes nas nas no no yes usb removable yes no yes');
    expect(text).toMatch(/Restore-test history \(last 1d\) Finished Copy Sample Result Duration Measured throughput 2026-05-04 02:30 CEST nas 2 files, 1\.0 MiB passed \d+(ms|s) [\d.]+ [KMG]iB\/s 2026-05-04 02:30 CEST usb 2 files, 1\.0 MiB passed \d+(ms|s) [\d.]+ [KMG]iB\/s Backups /);
    for (const s of SECTIONS) expect(text).toContain(s);
    expect(text).toContain('None in the last 1d.');
    expect(text).toContain('not enough history');
    expect(text).toContain('forecasts and trends need 3 samples over 3d');
    const charts = dom.match(/<svg class="chart"[\s\S]*?<\/svg>/g) ?? [];
    expect(charts).toHaveLength(2);
    for (const svg of charts) {
      expect(svg).toContain('class="axis x-axis"');
      expect(svg).toContain('class="axis y-axis"');
      // Time axis in the policy's zone (CEST), from the window's start to the evaluation time.
      expect(svg).toContain('>time (CEST)</text>');
      expect(svg).toContain('>05-03 07:00</text>');
      expect(svg).toContain('>05-04 07:00</text>');
      expect(svg).toContain('>RPO 12h</text>');
      expect(svg).toContain('>last backup 02:00 CEST</text>');
      expect(svg).not.toContain('class="breach"');
    }
    expect(text).not.toContain('`');
  });

  it('the verification coverage and recovery-key sections: share verified per copy, oldest verification, key proof age', () => {
    const { dom, text } = render('verification-and-keys', ['-p', join(policies, 'calm.yaml')]);
    expect(text).toContain('Obligations since 2026-05-04 02:00 CEST (the end of the first backup).');
    const start = text.indexOf('Verification coverage (every 30d)');
    const end = text.indexOf('Findings, worst first');
    expect(start).toBeGreaterThan(text.indexOf('Recovery keys'));
    expect(end).toBeGreaterThan(start);
    const section = text.slice(start, end);
    expect(section).toMatch(/full coverage is due from 2026-06-03 02:00 CEST/);
    expect(section).toMatch(/Copy Verified Bytes verified Oldest verification Failed, not repaired/);
    expect(section).toMatch(/ nas 100\.0 % [\d.]+ KiB of [\d.]+ KiB 4h 20m \(2026-05-04 02:40 CEST\) none /);
    expect(section).toMatch(/ usb 0\.0 % 0 B of [\d.]+ KiB \d+ packs? never none/);
    const keys = text.slice(text.indexOf('Recovery keys: prove every 180d'), start);
    expect(keys).toMatch(/Key Last proven Age Targets Overdue [0-9a-f]{16} 2026-05-04 02:35 CEST 4h 25m nas, usb no/);
    // Below 100 % but not yet due: shown, not a warning; the page stays OK.
    expect(dom).not.toMatch(/<span class="warning">0\.0 %/);
    expect(text).toMatch(/Verdict OK calm: within contract/);
  });

  it('a breached policy: out of contract in the first sentence, breaches shaded and listed, commands as code', () => {
    const { dom, text } = render('breached', ['-p', join(policies, 'late.yaml')]);
    expect(text).toMatch(/Verdict CRITICAL late: out of contract since 2026-05-04 06:00 CEST: RPO 4h exceeded on nas and usb, exposure 5h \(4 critical findings in all\); last restore test 4h 30m ago passed in \d+(ms|s) on nas and usb; RTO 2h met with 2h margin on nas Policy late /);
    expect(text).toMatch(/Breaches Of Start End Length nas 2026-05-04 06:00 CEST ongoing 59m 45s overall 2026-05-04 06:00 CEST ongoing 59m 45s usb 2026-05-04 06:00 CEST ongoing 59m 45s RTO/);
    const charts = dom.match(/<svg class="chart"[\s\S]*?<\/svg>/g) ?? [];
    expect(charts).toHaveLength(2);
    for (const svg of charts) expect(svg).toMatch(/<rect class="breach" [^>]*fill="url\(#hatch-0-\d\)"/);
    expect(dom).toContain(`<code>triad backup -p ${join(policies, 'late.yaml')}</code>`);
    expect(text).not.toContain('`');
  });

  it('--policies DIR: a summary table first, then each policy on its own printed page', () => {
    const { dom, text } = render('three-policies', ['--policies', policies]);
    expect(text).toMatch(/Summary Policy Level Contract RPO exposure RTO Last restore test Findings calm OK within 5h \/ 12h met 4h 30m ago, passed 0 late CRITICAL out of contract 5h \/ 4h met 4h 30m ago, passed 4 tight WARNING within 5h \/ 6h met 4h 30m ago, passed 1 /);
    expect(text.indexOf('Summary')).toBeLessThan(text.indexOf('Policy calm'));
    expect(dom.match(/<section class="policy"/g)).toHaveLength(3);
    expect(dom).toContain('@page{size:A4');
    expect(dom).toContain('section.policy{break-before:page}');
    expect(dom).toContain('table,figure,tr{break-inside:avoid}');
    // The first policy follows the verdict on page 1; a single policy's print has no page of the verdict alone.
    expect(dom).toContain('section.verdicts+section.policy{break-before:auto}');
    expect(dom).toMatch(/<section class="verdicts">[\s\S]*?<\/section>\s*<section class="policy"/);
    expect(dom).not.toMatch(/(src|href)="(?!#)/);
    expect(existsSync(join(OUT, 'three-policies.pdf'))).toBe(true);
  });
});
