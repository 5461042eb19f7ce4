// Compliance as pure functions of history and a time: RPO/RTO, 3-2-1(-1-0) status, reports.
export * from './types.js';
export { evaluateRpo, exposureAt, meetsRpoAt, type RpoInput } from './rpo.js';
export { evaluateRto, latestTest, type RtoInput } from './rto.js';
export { verificationCoverage, verificationFindings, unrepairedFailures, percentText } from './verification.js';
export { evaluateDataRule, copiesSatisfyRule, type DataRuleInput } from './rule-status.js';
export {
  buildPolicyReport,
  judge,
  withFindings,
  leastSquares,
  CAPACITY_WARNING_PERCENT,
  CAPACITY_CRITICAL_PERCENT,
  CAPACITY_WARNING_DAYS,
  DEFAULT_WARN_AT_PERCENT,
  DEFAULT_VERIFY_EVERY_MS,
  RESTORE_TEST_DUE_SOON_MS,
  FORECAST_MIN_POINTS,
  FORECAST_MIN_SPAN_MS,
  historyBasis,
  type PolicyReportInput,
  type Judgement,
} from './report.js';
export { formatDuration, formatBytes, formatTime } from '../core/format.js';
