import type { KdfStrength } from '../../src/app/session.js';

/** The cheap scrypt cost of app-level tests, with a floor to match (no weak-key warning). triad-test-entry.mjs uses the same. */
export const TEST_KDF_COST = { N: 1 << 10, r: 8, p: 1 };
export const TEST_KDF: KdfStrength = { cost: TEST_KDF_COST, floor: TEST_KDF_COST };
