import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { registerPolicy } from './policy.js';
import { registerRepo } from './repo.js';

type Register = (program: Command, ctx: CliContext) => void;

/** Command modules register themselves here; each lazy-loads its app module in its action. */
const registrations: Register[] = [registerPolicy, registerRepo];

export function registerCommands(program: Command, ctx: CliContext): void {
  for (const r of registrations) r(program, ctx);
}
