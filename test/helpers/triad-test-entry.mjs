#!/usr/bin/env node
// The CLI as tests run it: bin/triad's main with injections the shipped launcher never makes.
// Test code only. Every run gets a cheap scrypt cost with a floor to match (so no weak-key
// warning); these variables of the launcher's own environment add the rest:
//   TRIAD_TEST_NOW                  pin the clock at this ISO time
//   TRIAD_TEST_PACK_SIZE            target pack size of backup and prune, in bytes
//   TRIAD_TEST_LOCK_STALE_AFTER_MS  repository lock lifetime without a refresh
//   TRIAD_TEST_FAULTS               random storage faults and a SIGKILL at an I/O boundary (JSON,
//                                   see chaos-storage.mjs), wrapping every opened target
//   TRIAD_TEST_COUNT_LOADS          a file: every load of every opened target appended to it as a
//                                   JSON line (see count-storage.mjs)
import v8 from 'node:v8';

v8.setFlagsFromString('--heap-growing-percent=50');
const { main } = await import('../../dist/cli/main.js');
const { fixedClock } = await import('../../dist/core/clock.js');

const TEST_KDF = { N: 1 << 10, r: 8, p: 1 };

/** A positive whole number from the launcher's environment; a typo fails the test run loudly. */
function wholeNumber(name) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`test entry: ${name}=${raw} is not a positive whole number`);
  return n;
}

const injected = { kdf: { cost: TEST_KDF, floor: TEST_KDF } };
if (process.env.TRIAD_TEST_NOW) injected.clock = fixedClock(process.env.TRIAD_TEST_NOW);
const packSize = wholeNumber('TRIAD_TEST_PACK_SIZE');
if (packSize !== undefined) injected.packSize = packSize;
const lockStaleAfterMs = wholeNumber('TRIAD_TEST_LOCK_STALE_AFTER_MS');
if (lockStaleAfterMs !== undefined) injected.lockStaleAfterMs = lockStaleAfterMs;

if (process.env.TRIAD_TEST_COUNT_LOADS) {
  const { countingWrapper } = await import('./count-storage.mjs');
  injected.wrapStorage = countingWrapper(process.env.TRIAD_TEST_COUNT_LOADS);
}

if (process.env.TRIAD_TEST_FAULTS) {
  const { chaosWrapper, parseFaultSpec } = await import('./chaos-storage.mjs');
  const chaos = chaosWrapper(parseFaultSpec(process.env.TRIAD_TEST_FAULTS));
  const counting = injected.wrapStorage;
  injected.wrapStorage = counting ? (storage, target) => chaos(counting(storage, target), target) : chaos;
}

process.exitCode = await main(process.argv, process.env, injected);
