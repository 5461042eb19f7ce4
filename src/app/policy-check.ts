/**
 * `triad policy check`: validates policy files and evaluates their 3-2-1 rule. Returns one
 * result per file, in the order given; never prints and never throws for a bad file (a
 * problem in one file must not hide the others' results).
 */
import { readFile } from 'node:fs/promises';
import * as nodePath from 'node:path';
import { errnoCode } from '../core/errors.js';
import { validatePolicyText, type PolicyProblem } from '../policy/load.js';
import { evaluateRule, type RuleMatrix } from '../policy/rule.js';
import type { Policy } from '../policy/types.js';

export interface PolicyCheckResult {
  /** The path as given by the user. */
  file: string;
  /** Valid, and its rule is met or turned off (`rule: none`). */
  ok: boolean;
  /** The file parsed and validated; false means `problems` is set. */
  valid: boolean;
  /** 'invalid' when the file has problems; otherwise the rule verdict. */
  verdict: 'pass' | 'fail' | 'off' | 'invalid';
  policy?: Policy;
  matrix?: RuleMatrix;
  problems?: PolicyProblem[];
}

export interface CheckPoliciesOptions {
  env: Record<string, string | undefined>;
  /** Base for relative file names; default: the process working directory as resolved by node:path. */
  cwd?: string;
}

export async function checkPolicies(files: readonly string[], opts: CheckPoliciesOptions): Promise<PolicyCheckResult[]> {
  const results: PolicyCheckResult[] = [];
  for (const file of files) results.push(await checkOne(file, opts));
  return results;
}

async function checkOne(file: string, opts: CheckPoliciesOptions): Promise<PolicyCheckResult> {
  const abs = opts.cwd === undefined ? nodePath.resolve(file) : nodePath.resolve(opts.cwd, file);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (err) {
    const code = errnoCode(err);
    const message =
      code === 'ENOENT' ? 'policy file not found' : code === 'EISDIR' ? 'is a directory, not a policy file' : code === 'EACCES' ? 'permission denied' : `cannot be read (${code ?? String(err)})`;
    return { file, ok: false, valid: false, verdict: 'invalid', problems: [{ file, line: 0, column: 0, path: '', message }] };
  }
  const v = validatePolicyText(text, abs, { env: opts.env });
  if (!v.ok) {
    // Problems name the file as the user wrote it, so the lines can be pasted into an editor.
    return { file, ok: false, valid: false, verdict: 'invalid', problems: v.problems.map((p) => ({ ...p, file })) };
  }
  const matrix = evaluateRule(v.policy);
  return { file, ok: matrix.verdict !== 'fail', valid: true, verdict: matrix.verdict, policy: v.policy, matrix };
}
