import { Option, type Command } from 'commander';
import { TriadError } from '../../core/errors.js';
import type { RepoAccess } from '../../app/repo-open.js';
import type { Output } from '../output.js';

/** The options that reach a repository named by --repo URL, without a policy file. */
export interface RepoAccessCliOptions {
  passphraseEnv?: string;
  passphraseFile?: string;
  endpoint?: string;
  region?: string;
  checksums?: 'when_supported' | 'when_required';
}

/** Adds the passphrase and cloud-endpoint options of --repo to `c` (the caller adds --repo itself). */
export function withRepoAccessOptions(c: Command): Command {
  return c
    .option('--passphrase-env <var>', 'with --repo: environment variable holding the passphrase')
    .option('--passphrase-file <file>', 'with --repo: file holding the passphrase')
    .option('--endpoint <url>', 'with --repo: S3-compatible, Azure or GCS endpoint (e.g. an emulator or MinIO)')
    .option('--region <region>', 'with --repo s3://: the bucket region')
    .addOption(new Option('--checksums <mode>', 'with --repo s3://: integrity checksums').choices(['when_supported', 'when_required']));
}

/** Where --repo is and how to unlock it; without --passphrase-env/--passphrase-file the passphrase is asked on the terminal. */
export async function repoAccessOf(url: string, o: RepoAccessCliOptions, out: Output): Promise<RepoAccess> {
  if (o.passphraseEnv && o.passphraseFile) throw new TriadError('E_USAGE', 'give --passphrase-env or --passphrase-file, not both');
  const passphrase = o.passphraseEnv ? { env: o.passphraseEnv } : o.passphraseFile ? { file: o.passphraseFile } : undefined;
  const passphraseValue = passphrase ? undefined : await promptSecret(out, 'repository passphrase: ');
  return { url, endpoint: o.endpoint, region: o.region, checksums: o.checksums, passphrase, passphraseValue };
}

/** Reads a secret from the terminal without echo; refuses when no terminal is attached. */
export async function promptSecret(out: Output, question: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY || !out.stderr.isTTY) {
    throw new TriadError('E_USAGE', 'no passphrase given and no terminal to ask on', {
      hint: 'pass it by reference: --new-passphrase-env VAR / --new-passphrase-file FILE (or --passphrase-env / --passphrase-file with --repo)',
    });
  }
  out.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let value = '';
      const onData = (buf: Buffer) => {
        for (const ch of buf.toString('utf8')) {
          if (ch === '\r' || ch === '\n') {
            stdin.off('data', onData);
            out.stderr.write('\n');
            if (value === '') reject(new TriadError('E_USAGE', 'the passphrase is empty'));
            else resolve(value);
            return;
          }
          if (ch === '\u0003') {
            stdin.off('data', onData);
            out.stderr.write('\n');
            reject(new TriadError('E_INTERRUPTED', 'interrupted'));
            return;
          }
          if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
          else value += ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
  }
}

