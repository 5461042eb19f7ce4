import { join } from 'node:path';
import { parsePolicyText } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/types.js';

/** Policy `p` (parsed, not written) with a NAS and an off-site offline tape under `dir`, plus the given lines. */
export function nasTapePolicy(dir: string, ...lines: string[]): Policy {
  return parsePolicyText(
    [
      'version: 1',
      'policy: p',
      'sources: [{path: /srv/data}]',
      'encryption: {passphrase_env: X}',
      'targets:',
      `  nas: {type: local, path: ${join(dir, 'nas')}, media: nas, offsite: false}`,
      `  tape: {type: local, path: ${join(dir, 'tape')}, media: tape, offsite: true, offline: true}`,
      ...lines,
    ].join('\n'),
    join(dir, 'p.yaml'),
    { env: {} },
  );
}
