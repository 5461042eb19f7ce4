// Scheduling: cron parsing and next firing times, the scheduler's state machine (timetable,
// per-policy lanes that keep jobs from overlapping, catch-up), systemd units, crontab lines.
export { parseCron, nextRun, nextRuns, type CronSpec } from './cron.js';
export { SCHEDULE_JOBS, jobArguments, describeJob, type ScheduledJob, type SchedulablePolicy, type ScheduledPolicy, type JobRequest, type JobStatus, type JobOutcome, type JobRunner } from './jobs.js';
export { outcomeLogLevel, type SchedulerLog, type SchedulerLogEvent } from './log.js';
export { realTimer, type SchedulerTimer } from './timer.js';
export { backupCatchUp } from './catch-up.js';
export { Scheduler, type SchedulerOptions, type UpcomingRun } from './scheduler.js';
export { cronToOnCalendar, renderSystemdUnits, systemdUnitName, systemdQuote, type SystemdUnitOptions, type SystemdUnits } from './systemd.js';
export { renderCrontab, crontabMarker, shellQuote, type Crontab, type CrontabJob, type CrontabOptions } from './crontab.js';
export { cronForZone, systemZoneName } from './cron-zone.js';
