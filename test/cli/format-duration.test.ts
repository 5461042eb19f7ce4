/** The one duration formatter of human output: two units at most, rounded to the smaller one shown. */
import { describe, expect, it } from 'vitest';
import { formatDuration } from '../../src/core/format.js';

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [850, '850ms'],
    [999.6, '1s'],
    [59_500, '1m'],
    [3_585_000, '59m 45s'],
    [6_599_000, '1h 50m'],
    [6_599_600, '1h 50m'],
    [6_569_000, '1h 49m'],
    [3_599_600, '1h'],
    [86_370_000, '1d'],
    [2 * 86_400_000 + 23.5 * 3_600_000, '3d'],
    [90_061_500, '1d 1h'],
    [-6_599_600, '-1h 50m'],
    [Infinity, '∞'],
  ])('%d ms reads %s', (ms, shown) => {
    expect(formatDuration(ms)).toBe(shown);
  });

  it('a difference reads like the figures it is taken from: 2h − 10m 1s is 1h 50m, not 1h 49m', () => {
    expect(formatDuration(2 * 3_600_000 - 601_000)).toBe('1h 50m');
  });
});
