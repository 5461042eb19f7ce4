/**
 * A short seeded torture round (see torture.ts): random commands on a local target and s3rver
 * under storage faults and SIGKILLs, every invariant checked after each round. `npm run torture`
 * runs the long version.
 */
import { expect, it } from 'vitest';
import { formatReport, torture } from './torture.js';

it('a seeded round of commands killed and faulted on a local target and s3rver leave every invariant intact', async () => {
  const report = await torture({ seed: 0x70_27_0e, rounds: 1, targets: ['local', 's3rver'], commands: 6, killRate: 0.6, faultRate: 0.05 });
  const summary = formatReport(report);
  console.log(summary);
  expect(report.violations, summary).toEqual([]);
  expect(report.rounds, summary).toBe(1);
  expect(report.kills.timed + report.kills.io, summary).toBeGreaterThan(0);
  expect(Object.values(report.faults).reduce((a, b) => a + b, 0), summary).toBeGreaterThan(0);
  expect(report.restores, summary).toBeGreaterThan(0);
}, 240_000);
