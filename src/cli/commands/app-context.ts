import type { Command } from 'commander';
import { systemClock } from '../../core/clock.js';
import type { AppContext } from '../../app/session.js';
import type { CliContext } from '../context.js';
import type { Output } from '../output.js';
import { progressEvents } from '../progress.js';

/** Builds the app layer's context from the CLI's: the env, cwd, clock and signal passed down explicitly. */
export function appContext(ctx: CliContext, cmd: Command, out: Output, opening?: string): AppContext & { stopProgress(): void } {
  const events = progressEvents(out, opening);
  return {
    env: ctx.env,
    cwd: ctx.cwd,
    clock: systemClock,
    signal: ctx.signal,
    events,
    catalogPath: ctx.globals(cmd).catalog,
    lowSecurityKdf: ctx.env.TRIAD_TEST_LOW_KDF === '1',
    stopProgress: () => events.stop(),
  };
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
