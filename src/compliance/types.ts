/**
 * Inputs and outputs of the compliance engine (DESIGN.md §3–§4).
 * Inputs are plain history rows the app layer reads from the catalogue; every function in
 * this folder is a pure function of them and an explicit `at` time. Durations are
 * milliseconds, sizes bytes, times `Date`.
 */
import type { RuleName } from '../policy/types.js';

export type Severity = 'ok' | 'warning' | 'critical';

/** A target as the rule sees it: its place in the 3-2-1 matrix. */
export interface TargetInfo {
  readonly name: string;
  readonly media: string;
  readonly offsite: boolean;
  /** Object lock / immutability policy that prevents deletion by triad's own credentials. */
  readonly immutable: boolean;
  /** Disconnected between runs (removable disk, tape). Counts like immutable for the extra "1". */
  readonly offline: boolean;
  /** True for `type: local`; only those get file-system capacity figures. */
  readonly local?: boolean;
  /**
   * When this target first had to hold a copy (its first scheduled backup after it was
   * added). Defaults to the policy's `firstScheduledAt`.
   */
  readonly firstScheduledAt?: Date;
}

/** One snapshot as present on one target (a snapshot written to three targets is three rows). */
export interface SnapshotCopy {
  readonly snapshotId: string;
  readonly target: string;
  /** When the backup started reading the source (DESIGN.md §4). */
  readonly recoveryPoint: Date;
  /** When the snapshot was committed and readable on this target; it counts only from then. */
  readonly completedAt: Date;
  /** Restorable size: the sum of the file sizes in the snapshot (not the stored, deduplicated bytes). */
  readonly bytes: number;
  /** Some source files could not be read (exit code 3). */
  readonly partial: boolean;
}

/** One backup attempt, per target. */
export interface BackupRun {
  readonly target: string;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly ok: boolean;
  /** Error message as shown to the user (never a secret). */
  readonly error?: string;
  readonly partial?: boolean;
}

/** One restore test, per target (DESIGN.md §5). */
export interface RestoreTestRecord {
  /** When the test finished. */
  readonly at: Date;
  readonly target: string;
  /** Every sampled byte was restored and matched its recorded content hash. */
  readonly ok: boolean;
  readonly files: number;
  readonly bytes: number;
  /** Fixed cost independent of size: opening the repository, listing, index loading. */
  readonly overheadMs: number;
  /** Time spent moving and verifying `bytes`; throughput = bytes / transferMs. */
  readonly transferMs: number;
  /** Files that failed to restore or verify. */
  readonly failures: number;
  readonly snapshotId?: string;
  /** The restore-test run it was part of: the copies one `triad restore-test` tested together. */
  readonly runId?: number;
  /** Wall time of the test on this target; null or absent when it was not recorded. */
  readonly durationMs?: number | null;
}

/** The latest `triad check` result of a target. */
export interface VerificationRecord {
  readonly target: string;
  readonly at: Date;
  /** Integrity errors found (missing or damaged packs, index mismatches…). */
  readonly errors: number;
}

/** One `key verify` run: which key the passphrase opened on which targets. */
export interface KeyProofRecord {
  readonly at: Date;
  /** Per target: the key opened there, or none (the proof failed on that target). */
  readonly targets: readonly { readonly target: string; readonly key: string | null }[];
}

/** The proof on record for one key: when it last opened every target of the policy. */
export interface KeyProofStatus {
  readonly key: string;
  /** The last proof that opened every target; null when every proof missed some target. */
  readonly lastProvedAt: Date | null;
  readonly ageMs: number | null;
  /** The targets the key's last attempt opened. */
  readonly targets: readonly string[];
  /** Older than keys.prove_every (or never proven on every target) while the policy asks for proofs. */
  readonly overdue: boolean;
}

/** File-system and repository figures of one target, sampled by the app layer. */
export interface CapacityInput {
  readonly target: string;
  /** File-system figures, local targets only. */
  readonly usedBytes?: number;
  readonly freeBytes?: number;
  /** Bytes stored in the repository on this target over time (any order). */
  readonly storedHistory?: readonly { readonly at: Date; readonly bytes: number }[];
  /** Sum of the restorable sizes of all snapshots kept, for the dedupe/compression ratio. */
  readonly logicalBytes?: number;
}

/** A half-open interval in which a target (or the policy overall) was outside its RPO. */
export interface BreachInterval {
  /** A target name, or 'overall' for the policy. */
  readonly scope: string;
  readonly start: Date;
  /** null while the breach is ongoing at the evaluation time. */
  readonly end: Date | null;
  /** end − start, or at − start when ongoing. */
  readonly durationMs: number;
  /** The breach started before the window; `start` is the true start, not clipped. */
  readonly startedBeforeWindow: boolean;
}

export interface ExposurePoint {
  readonly at: Date;
  /** null where no snapshot existed yet. */
  readonly exposureMs: number | null;
}

export interface WindowStats {
  readonly start: Date;
  readonly end: Date;
  /** Time inside the window during which the obligation existed (after firstScheduledAt). */
  readonly evaluatedMs: number;
  readonly withinMs: number;
  /** withinMs / evaluatedMs × 100, or null when nothing was due yet. */
  readonly percentWithin: number | null;
  /** Largest exposure in the window; null when nothing was due or no exposure was defined. */
  readonly worstExposureMs: number | null;
}

export interface TargetRpo {
  readonly target: string;
  /**
   * now − recovery point of the newest complete snapshot; with no snapshot, now − the
   * target's firstScheduledAt (time unprotected); null when nothing is due yet.
   */
  readonly exposureMs: number | null;
  readonly hasSnapshot: boolean;
  readonly recoveryPoint: Date | null;
  readonly snapshotId: string | null;
  readonly within: boolean;
  /** Start of the ongoing breach, or null when within. */
  readonly breachSince: Date | null;
  readonly window: WindowStats;
  /** Vertices of the exposure curve inside the window, for charts. */
  readonly series: readonly ExposurePoint[];
}

export interface OverallRpo {
  /**
   * The smallest exposure E such that the targets with exposure ≤ E satisfy the rule;
   * null when even all targets together cannot (no snapshot, or the rule is unsatisfiable).
   */
  readonly exposureMs: number | null;
  readonly within: boolean;
  /** Targets within the RPO at the evaluation time. */
  readonly targetsWithin: readonly string[];
  readonly breachSince: Date | null;
  readonly window: WindowStats;
}

export interface RpoEvaluation {
  readonly at: Date;
  /** null when the policy has no RPO; then nothing is evaluated and everything is within. */
  readonly rpoMs: number | null;
  readonly windowMs: number;
  readonly targets: readonly TargetRpo[];
  readonly overall: OverallRpo;
  /** Every breach that overlaps the window, per target and overall, ordered by start. */
  readonly breaches: readonly BreachInterval[];
}

export type RtoVerdict = 'met' | 'exceeded' | 'no-evidence' | 'no-snapshot' | 'failed-test';
export type Evidence = 'fresh' | 'stale' | 'none';

export interface TargetRto {
  readonly target: string;
  readonly snapshotId: string | null;
  readonly snapshotBytes: number | null;
  readonly evidence: Evidence;
  readonly lastTest: {
    readonly at: Date;
    readonly ok: boolean;
    readonly ageMs: number;
    readonly overheadMs: number;
    /** Measured bytes per second; null when the test moved no bytes. */
    readonly throughputBytesPerSec: number | null;
  } | null;
  /** overhead + size / throughput; null without a snapshot or a measured throughput. */
  readonly estimateMs: number | null;
  readonly verdict: RtoVerdict;
}

export interface RtoEvaluation {
  readonly at: Date;
  /** null when the policy has no RTO. */
  readonly rtoMs: number | null;
  readonly targets: readonly TargetRto[];
  /** The target with the smallest estimate among those whose latest test passed. */
  readonly fastest: { readonly target: string; readonly estimateMs: number; readonly evidence: Evidence } | null;
  /** met: some complete copy restores within the RTO (judged on the fastest target). */
  readonly verdict: 'met' | 'exceeded' | 'no-evidence' | 'off';
  /** The verdict rests on evidence older than restore_test.every. */
  readonly stale: boolean;
}

export type RuleState = 'met' | 'violated' | 'off';

export interface TargetCopyStatus {
  readonly target: string;
  readonly counts: boolean;
  /** Why it does not count (or 'ok'). */
  readonly reason: 'ok' | 'no-snapshot' | 'stale' | 'partial-only';
  readonly recoveryPoint: Date | null;
}

export interface RuleStatus {
  readonly rule: RuleName;
  /** Whether the configured targets could satisfy the rule if every one were fresh. */
  readonly configured: RuleState;
  /** Whether the data on the targets satisfies the rule now. */
  readonly data: RuleState;
  /** Production data + counting targets. */
  readonly copies: number;
  /** Distinct media of the production data (its declared medium) and the counting targets. */
  readonly media: readonly string[];
  readonly offsiteCopies: number;
  readonly immutableOrOfflineCopies: number;
  /** Sum of errors in the latest verification of every target; null when none was ever run. */
  readonly verificationErrors: number | null;
  readonly targets: readonly TargetCopyStatus[];
  /** Human-readable reasons the data does not meet the rule (empty when met or off). */
  readonly shortfalls: readonly string[];
}

export interface Finding {
  readonly severity: Severity;
  /** Stable identifier for scripts, e.g. 'rpo-breach'. */
  readonly code: string;
  readonly target?: string;
  readonly message: string;
  /** What to do about it. */
  readonly action?: string;
  /** The finding is CRITICAL: the policy is out of contract (exit 4, Nagios CRITICAL). */
  readonly affectsCompliance: boolean;
}

export interface TargetRestoreTests {
  readonly target: string;
  readonly last: {
    readonly at: Date;
    readonly ok: boolean;
    readonly files: number;
    readonly bytes: number;
    readonly failures: number;
  } | null;
  readonly ageMs: number | null;
  /** When the latest passing test finished (it may be older than `last`); null when none passed. */
  readonly lastSuccessAt: Date | null;
  /** When the next test is due (one interval after the latest); null before obligations start. */
  readonly dueAt: Date | null;
  /** Older than restore_test.every, or none at all although one was due. */
  readonly overdue: boolean;
  /** How long past due; 0 when not overdue. */
  readonly overdueByMs: number;
  readonly failuresInWindow: readonly { readonly at: Date; readonly failures: number }[];
}

/** One copy's part in a restore-test run. */
export interface RestoreTestCopy {
  readonly target: string;
  readonly ok: boolean;
  readonly files: number;
  readonly bytes: number;
  readonly failures: number;
  /** null when the test's duration was not recorded. */
  readonly durationMs: number | null;
  /** Bytes restored ÷ transfer time; null when the test moved no bytes. */
  readonly throughputBytesPerSec: number | null;
}

/** One `triad restore-test` run: every copy it tested, in target order. */
export interface RestoreTestRun {
  /** When the run finished. */
  readonly at: Date;
  readonly ageMs: number;
  /** Every copy passed. */
  readonly ok: boolean;
  /** The sample: the most files and bytes any copy restored. */
  readonly files: number;
  readonly bytes: number;
  /** Sum of the copies' durations (they are tested one after another); null when one was not recorded. */
  readonly durationMs: number | null;
  readonly copies: readonly RestoreTestCopy[];
}

/** The samples a trend was (or would have been) drawn from. */
export interface HistoryBasis {
  readonly points: number;
  /** Newest sample − oldest sample. */
  readonly spanMs: number;
  /** Enough points over a long enough span for a trend; without, no trend is given. */
  readonly enough: boolean;
}

export interface TargetBackups {
  readonly target: string;
  readonly lastSuccess: { readonly at: Date; readonly durationMs: number } | null;
  readonly lastFailure: { readonly at: Date; readonly error: string } | null;
  readonly failuresInWindow: readonly { readonly at: Date; readonly error: string }[];
  readonly partialSnapshots: readonly { readonly snapshotId: string; readonly recoveryPoint: Date; readonly completedAt: Date }[];
  /** Successful runs in the window, by start time. */
  readonly durations: readonly { readonly at: Date; readonly durationMs: number }[];
  readonly trend: {
    readonly runs: number;
    readonly meanMs: number | null;
    /** Least-squares slope of run duration against start time, ms per day; null without enough history. */
    readonly slopeMsPerDay: number | null;
    readonly history: HistoryBasis;
  };
}

export interface TargetCapacity {
  readonly target: string;
  readonly usedBytes: number | null;
  readonly freeBytes: number | null;
  readonly usedPercent: number | null;
  /** Latest stored-bytes sample at or before the evaluation time. */
  readonly storedBytes: number | null;
  /** Least-squares growth of stored bytes in the window; null without enough history. */
  readonly growthBytesPerDay: number | null;
  readonly history: HistoryBasis;
  /** freeBytes ÷ growth; null without free-space figures or without growth. */
  readonly daysLeft: number | null;
  /** logicalBytes ÷ storedBytes (dedupe × compression). */
  readonly reductionRatio: number | null;
  readonly severity: Severity;
}

export type NagiosStatus = 0 | 1 | 2 | 3;

/** One Nagios perfdata item: 'label'=value[uom];warn;crit;min;max */
export interface PerfDatum {
  readonly label: string;
  readonly value: number;
  readonly uom: '' | 's' | 'B' | '%';
  readonly warn?: number;
  readonly crit?: number;
  readonly min?: number;
  readonly max?: number;
}

export interface PolicyReport {
  /** The host whose backups of the policy are judged: set by a fleet report (many hosts, one repository). */
  readonly host?: string;
  readonly policy: string;
  readonly description?: string;
  /** The time zone human renderings show times in (JSON stays ISO 8601 UTC). */
  readonly zone: string;
  readonly at: Date;
  readonly windowMs: number;
  readonly windowStart: Date;
  readonly objectives: { readonly rpoMs: number | null; readonly rtoMs: number | null; readonly restoreEveryMs: number };
  /** When obligations started (objectives.since, else the end of the first backup); null: not yet. */
  readonly obligationsStart: Date | null;
  readonly obligationsFrom: 'since' | 'first-backup' | null;
  /** The production data's declared medium (production.media), one of the rule's media. */
  readonly productionMedia: string;
  /** The 3-2-1 matrix as configured. */
  readonly targets: readonly TargetInfo[];
  readonly rule: RuleStatus;
  readonly rpo: RpoEvaluation;
  readonly rto: RtoEvaluation;
  readonly restoreTests: readonly TargetRestoreTests[];
  /** Restore-test runs that finished in the window, newest first. */
  readonly restoreTestHistory: readonly RestoreTestRun[];
  /** The latest restore-test run by the evaluation time, in the window or before it. */
  readonly lastRestoreTest: RestoreTestRun | null;
  readonly backups: readonly TargetBackups[];
  readonly capacity: readonly TargetCapacity[];
  /** Recovery-key proofs (`key verify`), one row per key ever proven or tried. */
  readonly keys: readonly KeyProofStatus[];
  /** keys.prove_every of the policy, null when it asks for no proof. */
  readonly keyProofEveryMs: number | null;
  /** Verification coverage per copy from the ledger (absent when the report had no ledger to read). */
  readonly verification?: VerificationCoverage;
  /** Ordered critical, warning, ok; stable within a severity. */
  readonly findings: readonly Finding[];
  readonly severity: Severity;
  readonly verdict: 'compliant' | 'finding';
  /** DESIGN.md §7: 0 compliant, 4 compliance finding. */
  readonly exitCode: 0 | 4;
  readonly nagios: { readonly status: NagiosStatus; readonly perfdata: readonly PerfDatum[] };
}

/** What the verification ledger says of one target's stored bytes (the app layer reads it from the catalogue). */
export interface VerificationCoverageInput {
  readonly target: string;
  readonly packs: number;
  readonly bytes: number;
  /** Packs and bytes read whole and found intact within verify.every before the report's time. */
  readonly verifiedPacks: number;
  readonly verifiedBytes: number;
  readonly neverVerifiedPacks: number;
  readonly neverVerifiedBytes: number;
  /** The least recent whole verification of any pack; null when no pack was ever verified. */
  readonly oldestVerifiedAt: Date | null;
  readonly lastVerifiedAt: Date | null;
  /** Packs with blobs restored intact by a restore test within verify.every. */
  readonly sampledPacks: number;
  /** Packs whose last verification found them damaged, not verified whole since (nor repaired: a repair replaces them). */
  readonly failedPacks: readonly { readonly pack: string; readonly size: number; readonly failedAt: Date }[];
}

/** Verification coverage of one copy, as the report shows it. */
export interface TargetVerification {
  readonly target: string;
  readonly packs: number;
  readonly storedBytes: number;
  readonly verifiedBytes: number;
  /** verifiedBytes / storedBytes; null when the copy stores nothing. */
  readonly verifiedRatio: number | null;
  readonly neverVerifiedPacks: number;
  readonly neverVerifiedBytes: number;
  readonly oldestVerifiedAt: Date | null;
  /** Age of the least recently verified pack; null when some pack was never verified (see neverVerifiedPacks) or none is stored. */
  readonly oldestVerifiedAgeMs: number | null;
  readonly lastVerifiedAt: Date | null;
  readonly sampledPacks: number;
  readonly failedPacks: number;
  readonly failedBytes: number;
  /** Packs that failed, first ones (ids), for the finding and the JSON. */
  readonly failed: readonly { readonly pack: string; readonly size: number; readonly failedAt: Date }[];
}

export interface VerificationCoverage {
  /** verify.every of the policy: the period within which every stored byte must be verified. */
  readonly everyMs: number;
  readonly at: Date;
  /**
   * When full coverage is first due: one period after the policy's obligations started (a
   * daily rolling check needs that long to read every byte once); null while they have not.
   * Before it the share is shown, not judged; a failed pack is judged at once.
   */
  readonly dueFrom: Date | null;
  readonly targets: readonly TargetVerification[];
}
