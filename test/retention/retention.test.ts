import { describe, expect, it } from 'vitest';
import { applyRetention, hasRetentionRules, isoWeek } from '../../src/repo/maintenance/retention.js';
import type { RetentionSpec } from '../../src/policy/types.js';

const DAY = 86_400_000;

/** One snapshot a day at 12:00 UTC, 2023-01-01 … 2024-12-31 (731 days, 2024 is a leap year). */
function daily(): { id: string; time: string }[] {
  const out: { id: string; time: string }[] = [];
  for (let t = Date.UTC(2023, 0, 1, 12); t <= Date.UTC(2024, 11, 31, 12); t += DAY) {
    const time = new Date(t).toISOString();
    out.push({ id: time.slice(0, 10), time });
  }
  return out;
}

const SNAPS = daily();
const NOW = new Date('2025-01-01T00:00:00Z');

function kept(rules: RetentionSpec, snaps = SNAPS, timezone = 'UTC', now = NOW): string[] {
  return applyRetention(snaps, rules, { timezone, now })
    .filter((d) => d.keep)
    .map((d) => d.snapshot.id)
    .sort();
}

const days = (from: string, to: string): string[] => SNAPS.map((s) => s.id).filter((id) => id >= from && id <= to);

describe('applyRetention over two years of daily snapshots (hand-computed sets)', () => {
  it('has 731 snapshots', () => expect(SNAPS).toHaveLength(731));

  const table: [string, RetentionSpec, string[]][] = [
    ['keep_last 3', { keep_last: 3 }, ['2024-12-29', '2024-12-30', '2024-12-31']],
    ['keep_daily 7', { keep_daily: 7 }, days('2024-12-25', '2024-12-31')],
    // ISO weeks: 2024-12-30 (Mon) starts 2025-W01; W52 ends Sun 12-29, W51 Sun 12-22, W50 Sun 12-15.
    ['keep_weekly 4', { keep_weekly: 4 }, ['2024-12-15', '2024-12-22', '2024-12-29', '2024-12-31']],
    ['keep_monthly 3', { keep_monthly: 3 }, ['2024-10-31', '2024-11-30', '2024-12-31']],
    ['keep_yearly 5 (only two years exist)', { keep_yearly: 5 }, ['2023-12-31', '2024-12-31']],
    [
      'keep_monthly -1 (every month)',
      { keep_monthly: -1 },
      ['2023-01-31', '2023-02-28', '2023-03-31', '2023-04-30', '2023-05-31', '2023-06-30', '2023-07-31', '2023-08-31', '2023-09-30', '2023-10-31', '2023-11-30', '2023-12-31',
        '2024-01-31', '2024-02-29', '2024-03-31', '2024-04-30', '2024-05-31', '2024-06-30', '2024-07-31', '2024-08-31', '2024-09-30', '2024-10-31', '2024-11-30', '2024-12-31'],
    ],
    // Measured back from the newest snapshot (12-31 12:00): 12-21 12:00 is exactly 10 days and stays.
    ['keep_within 10d', { keep_within: 10 * DAY }, days('2024-12-21', '2024-12-31')],
    ['keep_hourly 5 (one snapshot per day: 5 newest)', { keep_hourly: 5 }, days('2024-12-27', '2024-12-31')],
    ['keep_last 2 + keep_daily 3 (overlap)', { keep_last: 2, keep_daily: 3 }, days('2024-12-29', '2024-12-31')],
    [
      'daily 7 + weekly 4 + monthly 12 + yearly 3',
      { keep_daily: 7, keep_weekly: 4, keep_monthly: 12, keep_yearly: 3 },
      [
        '2023-12-31',
        '2024-01-31', '2024-02-29', '2024-03-31', '2024-04-30', '2024-05-31', '2024-06-30', '2024-07-31', '2024-08-31', '2024-09-30', '2024-10-31', '2024-11-30',
        '2024-12-15', '2024-12-22',
        ...days('2024-12-25', '2024-12-31'),
      ],
    ],
    [
      'keep_weekly 2 + keep_within 3d + keep_yearly 1',
      { keep_weekly: 2, keep_within: 3 * DAY, keep_yearly: 1 },
      ['2024-12-28', '2024-12-29', '2024-12-30', '2024-12-31'],
    ],
  ];

  for (const [name, rules, expected] of table) {
    it(name, () => expect(kept(rules)).toEqual([...expected].sort()));
  }

  it('keep_weekly 60: the newest snapshot of each of 60 ISO weeks, Sundays except the partial newest week', () => {
    const got = kept({ keep_weekly: 60 });
    expect(got).toHaveLength(60);
    expect(got.at(-1)).toBe('2024-12-31');
    // Every other kept day is a Sunday (end of an ISO week); the oldest is 59 weeks before 2024-12-29.
    const sundays = got.slice(0, -1);
    for (const d of sundays) expect(new Date(d + 'T12:00:00Z').getUTCDay(), d).toBe(0);
    expect(sundays[0]).toBe(new Date(Date.UTC(2024, 11, 29) - 58 * 7 * DAY).toISOString().slice(0, 10));
  });

  it('reasons name every rule that keeps a snapshot; removed ones have none', () => {
    const d = applyRetention(SNAPS, { keep_last: 1, keep_daily: 2, keep_monthly: 2 }, { timezone: 'UTC', now: NOW });
    const by = new Map(d.map((x) => [x.snapshot.id, x]));
    expect(by.get('2024-12-31')!.reasons).toEqual(['keep_last', 'keep_daily', 'keep_monthly']);
    expect(by.get('2024-12-30')!.reasons).toEqual(['keep_daily']);
    expect(by.get('2024-11-30')!.reasons).toEqual(['keep_monthly']);
    expect(by.get('2024-12-29')!).toMatchObject({ keep: false, reasons: [] });
    expect(d.filter((x) => x.keep)).toHaveLength(3);
  });

  it('returns decisions in input order and does not reorder the input', () => {
    const shuffled = [SNAPS[5]!, SNAPS[730]!, SNAPS[0]!];
    const d = applyRetention(shuffled, { keep_last: 1 }, { timezone: 'UTC', now: NOW });
    expect(d.map((x) => x.snapshot.id)).toEqual(['2023-01-06', '2024-12-31', '2023-01-01']);
    expect(d.map((x) => x.keep)).toEqual([false, true, false]);
  });

  it('with no rules keeps everything (forget refuses such a policy)', () => {
    expect(hasRetentionRules({})).toBe(false);
    expect(hasRetentionRules({ keep_daily: 0 })).toBe(false);
    expect(hasRetentionRules({ keep_within: DAY })).toBe(true);
    expect(kept({})).toHaveLength(731);
  });

  it('keep_within ignores `now`: stopped backups never lose their last snapshots', () => {
    expect(kept({ keep_within: 2 * DAY }, SNAPS, 'UTC', new Date('2030-01-01T00:00:00Z'))).toEqual(days('2024-12-29', '2024-12-31'));
  });

  it('snapshots later than now (clock skew) are kept', () => {
    const snaps = [...SNAPS, { id: 'future', time: '2025-06-01T00:00:00.000Z' }];
    const d = applyRetention(snaps, { keep_last: 1 }, { timezone: 'UTC', now: NOW });
    expect(d.filter((x) => x.keep).map((x) => x.snapshot.id)).toEqual(['future']);
    expect(d.at(-1)!.reasons).toEqual(['in the future', 'keep_last']);
  });
});

describe('several snapshots per day', () => {
  // 2024-05-01 … 2024-05-03 at 00:30, 06:30, 12:30, 18:30 UTC.
  const snaps = [1, 2, 3].flatMap((d) => ['00:30', '06:30', '12:30', '18:30'].map((h) => ({ id: `05-0${d} ${h}`, time: `2024-05-0${d}T${h}:00.000Z` })));
  const now = new Date('2024-05-04T00:00:00Z');

  it('keep_daily 2 keeps the newest snapshot of each of the 2 newest days', () => {
    expect(kept({ keep_daily: 2 }, snaps, 'UTC', now)).toEqual(['05-02 18:30', '05-03 18:30']);
  });
  it('keep_hourly 5 keeps the 5 newest (one per hour)', () => {
    expect(kept({ keep_hourly: 5 }, snaps, 'UTC', now)).toEqual(['05-02 18:30', '05-03 00:30', '05-03 06:30', '05-03 12:30', '05-03 18:30']);
  });
  it('keep_last 1 + keep_daily 3 keeps the newest of each day', () => {
    expect(kept({ keep_last: 1, keep_daily: 3 }, snaps, 'UTC', now)).toEqual(['05-01 18:30', '05-02 18:30', '05-03 18:30']);
  });
});

describe('buckets follow the policy time zone', () => {
  // 22:30Z and 23:30Z on 2024-01-10: the same UTC day; in Paris (UTC+1) 23:30 on the 10th and 00:30 on the 11th.
  const snaps = [
    { id: 'a', time: '2024-01-10T22:30:00.000Z' },
    { id: 'b', time: '2024-01-10T23:30:00.000Z' },
  ];
  const now = new Date('2024-02-01T00:00:00Z');
  it('UTC: one day, the newest is kept', () => expect(kept({ keep_daily: 5 }, snaps, 'UTC', now)).toEqual(['b']));
  it('Europe/Paris: two days, both are kept', () => expect(kept({ keep_daily: 5 }, snaps, 'Europe/Paris', now)).toEqual(['a', 'b']));
  it('America/New_York: both on the 10th (17:30, 18:30)', () => expect(kept({ keep_daily: 5 }, snaps, 'America/New_York', now)).toEqual(['b']));

  it('months and years in a zone east of UTC (Asia/Tokyo, +9)', () => {
    const s = [
      { id: 'dec31', time: '2023-12-31T10:00:00.000Z' }, // 19:00 on 12-31 in Tokyo
      { id: 'jan1', time: '2023-12-31T16:00:00.000Z' }, // 01:00 on 01-01 in Tokyo
    ];
    expect(kept({ keep_yearly: 2 }, s, 'UTC', now)).toEqual(['jan1']);
    expect(kept({ keep_yearly: 2 }, s, 'Asia/Tokyo', now)).toEqual(['dec31', 'jan1']);
    expect(kept({ keep_monthly: 2 }, s, 'Asia/Tokyo', now)).toEqual(['dec31', 'jan1']);
  });

  it('hourly buckets across the Paris spring-forward (02:00 local does not exist)', () => {
    // 00:30Z = 01:30 CET; 01:10Z and 01:50Z = 03:10 and 03:50 CEST: two local hours, not three.
    const s = [
      { id: 'x', time: '2024-03-31T00:30:00.000Z' },
      { id: 'y', time: '2024-03-31T01:10:00.000Z' },
      { id: 'z', time: '2024-03-31T01:50:00.000Z' },
    ];
    const later = new Date('2024-04-01T00:00:00Z');
    expect(kept({ keep_hourly: 10 }, s, 'Europe/Paris', later)).toEqual(['x', 'z']);
    expect(kept({ keep_hourly: 10 }, s, 'UTC', later)).toEqual(['x', 'z']);
    expect(kept({ keep_hourly: 10 }, s, 'Asia/Kolkata', later)).toEqual(['y', 'z']); // 06:00, 06:40, 07:20 IST: y is the newest of hour 06
  });
});

describe('isoWeek', () => {
  const cases: [[number, number, number], [number, number]][] = [
    [[2021, 1, 3], [2020, 53]],
    [[2021, 1, 4], [2021, 1]],
    [[2024, 12, 29], [2024, 52]],
    [[2024, 12, 30], [2025, 1]],
    [[2026, 12, 31], [2026, 53]],
    [[2023, 1, 1], [2022, 52]],
  ];
  for (const [[y, m, d], want] of cases) it(`${y}-${m}-${d} → ${want.join('-W')}`, () => expect(isoWeek(y, m, d)).toEqual(want));
});
