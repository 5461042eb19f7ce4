import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { registerPolicy } from './policy.js';
import { registerReport } from './report.js';
import { registerCopy, registerRepo } from './repo.js';

type Register = (program: Command, ctx: CliContext) => void;

/** Command modules register themselves here; each lazy-loads its app module in its action. */
const registrations: Register[] = [registerPolicy, registerRepo, registerCopy];
registrations.push(registerReport);
import { registerRecovery } from './recovery.js'; registrations.push(registerRecovery);
import { registerMaintenance } from './maintenance.js'; registrations.push(registerMaintenance);
import { registerRestoreTest } from './restore-test.js'; registrations.push(registerRestoreTest);
import { registerFleet } from './fleet.js'; registrations.push(registerFleet);
import { registerSchedule } from './schedule.js'; registrations.push(registerSchedule);
import { registerDoctor } from './doctor.js'; registrations.push(registerDoctor);
import { registerCoverage } from './coverage.js'; registrations.push(registerCoverage);
import { registerCompletion } from './completion.js'; registrations.push(registerCompletion);

export function registerCommands(program: Command, ctx: CliContext): void {
  for (const r of registrations) r(program, ctx);
}
