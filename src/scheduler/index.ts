// Scheduling as pure rendering: cron parsing and next firing times, systemd units, crontab lines.
export { parseCron, nextRuns, type CronSpec } from './cron.js';
export { cronToOnCalendar, renderSystemdUnits, systemdQuote, type ScheduledJob, type SystemdUnitOptions, type SystemdUnits } from './systemd.js';
export { renderCrontab, shellQuote, type CrontabJob, type CrontabOptions } from './crontab.js';
