import { describe, expect, it } from 'vitest';
import { defaultCatalogPath, isoFromMs, toIso } from '../../src/catalog/index.js';
import { TriadError } from '../../src/core/errors.js';
import { thrown } from './helpers.js';

describe('defaultCatalogPath', () => {
  it('prefers TRIAD_CATALOG, then XDG_STATE_HOME, then ~/.local/state', () => {
    expect(defaultCatalogPath({ TRIAD_CATALOG: '/srv/c.db', XDG_STATE_HOME: '/x' }, '/home/a', 0)).toBe('/srv/c.db');
    expect(defaultCatalogPath({ XDG_STATE_HOME: '/x/state' }, '/home/a', 1000)).toBe('/x/state/triad/catalog.db');
    expect(defaultCatalogPath({}, '/home/a', 1000)).toBe('/home/a/.local/state/triad/catalog.db');
    expect(defaultCatalogPath({ XDG_STATE_HOME: 'relative' }, '/home/a')).toBe('/home/a/.local/state/triad/catalog.db');
    expect(defaultCatalogPath({ TRIAD_CATALOG: '' }, '/home/a')).toBe('/home/a/.local/state/triad/catalog.db');
  });

  it('root uses /var/lib/triad whatever XDG_STATE_HOME says', () => {
    expect(defaultCatalogPath({}, '/root', 0)).toBe('/var/lib/triad/catalog.db');
    expect(defaultCatalogPath({ XDG_STATE_HOME: '/root/.state' }, '/root', 0)).toBe('/var/lib/triad/catalog.db');
  });
});

describe('time normalisation', () => {
  it('formats epoch milliseconds like Date#toISOString, across leap years and centuries', () => {
    const cases: Array<[number, string]> = [
      [0, '1970-01-01T00:00:00.000Z'],
      [951_782_400_000, '2000-02-29T00:00:00.000Z'],
      [4_107_542_399_999, '2100-02-28T23:59:59.999Z'],
      [1_735_689_600_123, '2025-01-01T00:00:00.123Z'],
      [-1, '1969-12-31T23:59:59.999Z'],
    ];
    for (const [ms, iso] of cases) expect(isoFromMs(ms)).toBe(iso);
    // A spread of instants round-trips through the platform parser.
    for (let ms = -2e12; ms < 4e12; ms += 7_777_777_777) expect(Date.parse(isoFromMs(ms))).toBe(ms);
  });

  it('canonicalises zone offsets and missing milliseconds so text comparison orders times', () => {
    expect(toIso('2025-03-01T12:00:00Z')).toBe('2025-03-01T12:00:00.000Z');
    expect(toIso('2025-03-01T14:00:00+02:00')).toBe('2025-03-01T12:00:00.000Z');
    expect(toIso('2025-03-01')).toBe('2025-03-01T00:00:00.000Z');
    expect(toIso('2025-03-01T12:00:00.500Z')).toBe('2025-03-01T12:00:00.500Z');
  });

  it('rejects times without a zone and garbage', () => {
    for (const bad of ['2025-03-01T12:00:00', 'yesterday', '']) {
      const err = thrown(() => toIso(bad));
      expect(err).toBeInstanceOf(TriadError);
      expect((err as TriadError).code).toBe('E_USAGE');
    }
  });
});
