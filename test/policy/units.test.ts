import { describe, expect, it } from 'vitest';
import { formatDurationShort, parseDuration, parsePercent, parseRate, parseSize, UnitError } from '../../src/policy/units.js';

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['15m', 900_000],
    ['4h', 14_400_000],
    ['30d', 2_592_000_000],
    ['2w', 1_209_600_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['250ms', 250],
    [' 7d ', 604_800_000],
  ])('%s → %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each(['', '4', '4 hours', '1mo', '2y', 'h', '-5m', '0s', '5x', '4h junk'])('refuses %j', (input) => {
    expect(() => parseDuration(input)).toThrow(UnitError);
  });

  it('refuses a bare number and says to add a unit', () => {
    expect(() => parseDuration(30)).toThrow(/needs a unit/);
  });

  it('explains why months are refused', () => {
    expect(() => parseDuration('1mo')).toThrow(/use days/);
  });
});

describe('parseSize', () => {
  it.each([
    ['512KiB', 524_288],
    ['10MiB', 10_485_760],
    ['2GiB', 2_147_483_648],
    ['2GB', 2_000_000_000],
    ['100', 100],
    [100, 100],
    ['1.5KiB', 1536],
    ['1kb', 1000],
    ['0', 0],
  ] as const)('%s → %d bytes', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  it.each(['', '2 gigs', '10XB', 'MiB', '-1', '1.5.2MB'])('refuses %j', (input) => {
    expect(() => parseSize(input)).toThrow(UnitError);
  });

  it('refuses fractional and negative byte counts', () => {
    expect(() => parseSize(1.5)).toThrow(UnitError);
    expect(() => parseSize(-1)).toThrow(UnitError);
  });
});

describe('parsePercent', () => {
  it.each([
    ['5%', 5],
    ['0.5%', 0.5],
    ['100%', 100],
  ])('%s → %d', (input, v) => {
    expect(parsePercent(input)).toBe(v);
  });

  it.each(['5', '0%', '101%', '150%', 'five%', ''])('refuses %j', (input) => {
    expect(() => parsePercent(input)).toThrow(UnitError);
  });

  it('refuses a number without the % sign', () => {
    expect(() => parsePercent(5)).toThrow(UnitError);
  });
});

describe('parseRate', () => {
  it.each([
    ['10MiB/s', 10_485_760],
    ['500KiB/s', 512_000],
    ['1MB/s', 1_000_000],
    ['2MiB', 2_097_152],
    ['0', 0],
    [0, 0],
  ] as const)('%s → %d B/s', (input, v) => {
    expect(parseRate(input)).toBe(v);
  });

  it.each(['fast', '10Mbit/s', '/s'])('refuses %j', (input) => {
    expect(() => parseRate(input)).toThrow(UnitError);
  });
});

describe('formatDurationShort', () => {
  it.each([
    [0, '0s'],
    [30_000, '30s'],
    [900_000, '15m'],
    [5_400_000, '1h30m'],
    [14_400_000, '4h'],
    [1_209_600_000, '2w'],
    [2_592_000_000, '30d'],
    [90_061_500, '1d1h1m1s500ms'],
  ])('%d → %s', (ms, text) => {
    expect(formatDurationShort(ms)).toBe(text);
  });

  it('round-trips through parseDuration', () => {
    for (const ms of [1_000, 61_000, 3_600_000, 86_400_000 * 3 + 7_000, 604_800_000 * 5]) {
      expect(parseDuration(formatDurationShort(ms))).toBe(ms);
    }
  });

  it('refuses negative values', () => {
    expect(() => formatDurationShort(-1)).toThrow(RangeError);
  });
});
