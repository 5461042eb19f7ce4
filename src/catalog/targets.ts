import type { Connection } from './connection.js';
import type { TargetInput, TargetRow } from './types.js';

export function upsertTarget(c: Connection, t: TargetInput): void {
  c.write(() =>
    c.stmt(
      `INSERT INTO targets (policy, name, type, location, media, offsite, immutable, offline)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (policy, name) DO UPDATE SET type = excluded.type, location = excluded.location,
         media = excluded.media, offsite = excluded.offsite, immutable = excluded.immutable, offline = excluded.offline`,
    ).run(t.policy, t.name, t.type, t.location, t.media, t.offsite ? 1 : 0, t.immutable ? 1 : 0, t.offline ? 1 : 0),
  );
}

export function listTargets(c: Connection, policy: string): TargetRow[] {
  const rows = c.stmt(
    'SELECT policy, name, type, location, media, offsite, immutable, offline FROM targets WHERE policy = ? ORDER BY name',
  ).all(policy) as Array<Omit<TargetRow, 'offsite' | 'immutable' | 'offline'> & { offsite: number; immutable: number; offline: number }>;
  return rows.map((r) => ({ ...r, offsite: r.offsite === 1, immutable: r.immutable === 1, offline: r.offline === 1 }));
}
