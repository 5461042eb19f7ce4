/** A store that cannot be reached is named with its endpoint and the system's error, for every cloud backend. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PASS, tempDir, triad, writePolicy } from '../helpers/triad.js';

// Nothing listens on the discard port of the loopback address: connections are refused at once.
const CLOSED = 'http://127.0.0.1:9';
const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

describe('storage unreachable: the message names the endpoint and the cause', () => {
  it.each([
    ['s3', { type: 's3', bucket: 'bkt', endpoint: CLOSED, force_path_style: true, credentials_env: { access_key_id: 'AK', secret_access_key: 'SK' } }, CLOSED],
    ['gcs', { type: 'gcs', bucket: 'bkt', endpoint: CLOSED }, CLOSED],
    ['azure', { type: 'azure', container: 'ctr', account: 'devstoreaccount1', endpoint: `${CLOSED}/devstoreaccount1`, account_key_env: 'AZK' }, `${CLOSED}/devstoreaccount1`],
  ])('%s', (_kind, target, endpoint) => {
    const dir = tempDir('triad-unreach-');
    mkdirSync(join(dir, 'src'));
    const policy = writePolicy(dir, { sources: [join(dir, 'src')], rule: 'none', targets: { cloud: { ...target, media: 'object-storage', offsite: true } } });
    const r = triad(['--retry-for', '1s', 'init', '-p', policy], { env: { ...PASS, AK: 'a', SK: 'b', AZK: AZURITE_KEY } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`storage unreachable (endpoint ${endpoint}: `);
    expect(r.stderr).toContain('ECONNREFUSED');
    expect(r.stderr).not.toContain(AZURITE_KEY);
  });
});
