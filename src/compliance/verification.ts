import { countOf, formatBytes, formatDuration } from '../core/format.js';
import type { Finding, VerificationCoverage, VerificationCoverageInput } from './types.js';

/** Failed packs named in the report; the rest are counted. */
const FAILED_PACKS_SHOWN = 20;

export function verificationCoverage(inputs: readonly VerificationCoverageInput[], at: Date, everyMs: number, obligationsStart: Date | null): VerificationCoverage {
  return {
    everyMs,
    at,
    dueFrom: obligationsStart === null ? null : new Date(obligationsStart.getTime() + everyMs),
    targets: inputs.map((c) => ({
      target: c.target,
      packs: c.packs,
      storedBytes: c.bytes,
      verifiedBytes: c.verifiedBytes,
      verifiedRatio: c.bytes === 0 ? null : c.verifiedBytes / c.bytes,
      neverVerifiedPacks: c.neverVerifiedPacks,
      neverVerifiedBytes: c.neverVerifiedBytes,
      oldestVerifiedAt: c.oldestVerifiedAt,
      oldestVerifiedAgeMs: c.neverVerifiedPacks > 0 || c.oldestVerifiedAt === null ? null : Math.max(0, at.getTime() - c.oldestVerifiedAt.getTime()),
      lastVerifiedAt: c.lastVerifiedAt,
      sampledPacks: c.sampledPacks,
      failedPacks: c.failedPacks.length,
      failedBytes: c.failedPacks.reduce((n, p) => n + p.size, 0),
      failed: c.failedPacks.slice(0, FAILED_PACKS_SHOWN),
    })),
  };
}

/** Packs found damaged and not repaired per target: the ledger's part of 3-2-1-1-0's "0 errors". */
export function unrepairedFailures(v: VerificationCoverage | undefined): ReadonlyMap<string, number> {
  return new Map((v?.targets ?? []).map((t) => [t.target, t.failedPacks]));
}

/**
 * Per copy: a pack found damaged and not repaired is CRITICAL (the copy cannot restore what
 * it holds); stored bytes not all verified within verify.every is a WARNING with the rolling
 * check that closes the gap.
 */
export function verificationFindings(v: VerificationCoverage, file: string): Omit<Finding, 'affectsCompliance'>[] {
  const due = v.dueFrom !== null && v.dueFrom.getTime() <= v.at.getTime();
  const out: Omit<Finding, 'affectsCompliance'>[] = [];
  const every = formatDuration(v.everyMs);
  for (const t of v.targets) {
    if (t.failedPacks > 0) {
      const first = t.failed[0]!;
      out.push({
        severity: 'critical',
        code: 'verification-failed-packs',
        target: t.target,
        message: `${countOf(t.failedPacks, 'pack', 'packs')} on ${t.target} (${formatBytes(t.failedBytes)}) failed verification and ${t.failedPacks === 1 ? 'is' : 'are'} not repaired, e.g. ${first.pack.slice(0, 12)}`,
        action: `run \`triad repair packs -p ${file} --target ${t.target}\`, then \`triad check -p ${file} --target ${t.target} --read-data\``,
      });
    }
    if (!due || t.verifiedRatio === null || t.verifiedRatio >= 1) continue;
    const oldest = t.neverVerifiedPacks > 0
      ? `${countOf(t.neverVerifiedPacks, 'pack', 'packs')} (${formatBytes(t.neverVerifiedBytes)}) never verified`
      : `the least recently verified pack was read ${formatDuration(t.oldestVerifiedAgeMs ?? 0)} ago`;
    out.push({
      severity: 'warning',
      code: 'verification-coverage',
      target: t.target,
      message: `${percentText(t.verifiedRatio)} of the ${formatBytes(t.storedBytes)} stored on ${t.target} verified within verify.every ${every}; ${oldest}`,
      action: `run \`triad check -p ${file} --target ${t.target} --read-data-subset auto\` daily (schedule.check): it reads the least recently verified packs`,
    });
  }
  return out;
}

/** A share below 100 % never rounds up to it. */
export function percentText(ratio: number): string {
  const p = Math.floor(ratio * 1000) / 10;
  return `${p.toFixed(1)} %`;
}
