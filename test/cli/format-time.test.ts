/** The one time formatter of human output: the zone's clock, and a zone name no reader has to guess. */
import { describe, expect, it } from 'vitest';
import { formatTime } from '../../src/core/format.js';

describe('formatTime', () => {
  it.each([
    ['2026-12-06T10:02:00Z', 'Europe/Paris', '2026-12-06 11:02 CET'],
    ['2026-07-06T10:02:00Z', 'Europe/Paris', '2026-07-06 12:02 CEST'],
    ['2026-07-06T10:02:59.999Z', 'UTC', '2026-07-06 10:02 UTC'],
    ['2026-01-15T23:30:00Z', 'America/New_York', '2026-01-15 18:30 EST'],
    ['2026-07-06T10:02:00Z', 'Europe/London', '2026-07-06 11:02 BST'],
    ['2026-12-31T20:00:00Z', 'Asia/Kolkata', '2027-01-01 01:30 GMT+5:30'],
    ['2026-03-29T00:30:00Z', 'Europe/Paris', '2026-03-29 01:30 CET'],
    ['2026-03-29T01:30:00Z', 'Europe/Paris', '2026-03-29 03:30 CEST'],
  ])('%s in %s is %s', (iso, zone, shown) => {
    expect(formatTime(new Date(iso), zone)).toBe(shown);
  });

  it('UTC when no zone is given, and an invalid date says so instead of throwing', () => {
    expect(formatTime(new Date('2026-12-06T10:02:00Z'))).toBe('2026-12-06 10:02 UTC');
    expect(formatTime(new Date('not a date'), 'Europe/Paris')).toBe('unknown time');
  });
});
