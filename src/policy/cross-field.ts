/** Rules that span fields, checked on the raw tree so they run even when other fields are wrong. */
import { isPlainObject, type Problems } from './problems.js';
import { isOffsite } from './normalise.js';
import type { PolicyTree } from './yaml-tree.js';

export function crossFieldRules(problems: Problems, tree: PolicyTree, raw: Record<string, unknown>): void {
  const targets = isPlainObject(raw.targets) ? raw.targets : {};
  const enc = raw.encryption;
  if (enc === undefined || enc === null) {
    const offsite = Object.entries(targets).filter(([, t]) => isPlainObject(t) && isOffsite(t));
    for (const [name, t] of offsite) {
      const p = ['targets', name, ...(isPlainObject(t) && 'offsite' in t ? ['offsite'] : [])];
      problems.add(
        tree.locate(p, true),
        p,
        `target \`${name}\` is off-site and must be encrypted, but the policy has no \`encryption\` section; add encryption: {passphrase_env: VAR} (or passphrase_file / passphrase_command)`,
        { expected: 'an encryption section' },
      );
    }
    if (offsite.length === 0) {
      problems.add({ line: 1, column: 1 }, ['encryption'], 'missing required section `encryption`: every triad repository is encrypted; add encryption: {passphrase_env: VAR} (or passphrase_file / passphrase_command)', {
        expected: 'a mapping with one of passphrase_env, passphrase_file, passphrase_command',
      });
    }
  } else if (isPlainObject(enc)) {
    const sources = ['passphrase_env', 'passphrase_file', 'passphrase_command'].filter((k) => enc[k] !== undefined);
    if (sources.length > 1) {
      problems.add(tree.locate(['encryption'], true), ['encryption'], `more than one passphrase source (${sources.join(', ')}); give exactly one`, {
        expected: 'exactly one of passphrase_env, passphrase_file, passphrase_command',
      });
    } else if (sources.length === 0 && ![...problems.reported].some((k) => k.startsWith('["encryption",'))) {
      problems.add(tree.locate(['encryption'], true), ['encryption'], 'no passphrase source: give one of passphrase_env, passphrase_file or passphrase_command', {
        expected: 'exactly one of passphrase_env, passphrase_file, passphrase_command',
      });
    } else if (enc.passphrase_command_timeout !== undefined && enc.passphrase_command === undefined) {
      problems.add(tree.locate(['encryption', 'passphrase_command_timeout'], true), ['encryption', 'passphrase_command_timeout'], 'passphrase_command_timeout is set but the passphrase does not come from passphrase_command', {
        expected: 'passphrase_command_timeout only beside passphrase_command',
      });
    }
  }
  for (const [name, t] of Object.entries(targets)) {
    if (!isPlainObject(t)) continue;
    const path = ['targets', name];
    if (t.object_lock !== undefined && t.immutable !== true) {
      problems.add(tree.locate([...path, 'object_lock'], true), [...path, 'object_lock'], '`object_lock` needs `immutable: true` on the same target (object lock is what makes the copy immutable)');
    }
    if (t.immutability !== undefined && t.immutable !== true) {
      problems.add(
        tree.locate([...path, 'immutability'], true),
        [...path, 'immutability'],
        '`immutability` needs `immutable: true` on the same target (the immutability policy is what makes the copy immutable)',
      );
    }
    if ((t.type === 's3' || t.type === 'azure' || t.type === 'gcs') && t.endpoint !== undefined && t.offsite === undefined) {
      problems.add(tree.locate(path, true), [...path, 'offsite'], 'missing required field `offsite`: a target with a custom `endpoint` may be in the same building, so say whether it is off-site', {
        expected: 'true or false',
      });
    }
    if (t.type === 'local' && t.media === undefined) {
      problems.add(tree.locate(path, true), [...path, 'media'], 'missing required field `media`: say what the local path is on (e.g. disk, nas, removable, tape); the 3-2-1 check counts distinct media', {
        expected: 'a media name such as disk, nas, removable, tape',
      });
    }
    if (t.type === 'azure') {
      const creds = ['connection_string_env', 'account_key_env', 'sas_token_env'].filter((k) => t[k] !== undefined);
      if (creds.length > 1) {
        problems.add(tree.locate(path, true), path, `more than one Azure credential (${creds.join(', ')}); give exactly one`);
      }
      if (t.account_key_env !== undefined && t.account === undefined) {
        problems.add(tree.locate([...path, 'account_key_env'], true), [...path, 'account'], 'missing required field `account`: an account key needs the storage account name');
      }
    }
  }
  const rt = raw.restore_test;
  if (isPlainObject(rt)) {
    const forms = ['sample', 'files', 'bytes'].filter((k) => rt[k] !== undefined);
    if (forms.length > 1) {
      problems.add(tree.locate(['restore_test'], true), ['restore_test'], `give one sample size, not ${forms.join(' and ')}`, {
        expected: 'one of sample (5%), files (200) or bytes (2GiB)',
      });
    }
  }
}
