/**
 * Policy loading: YAML text → located plain tree → strict schema → cross-field rules →
 * normalised `Policy`. Every problem found in a file is collected with its line, column
 * and field path, and all of them are thrown together in one E_POLICY_INVALID error, so a
 * sysadmin fixes the whole file in one pass instead of one error per run.
 *
 * Each step has its module: read.ts (the bounded file read), yaml-tree.ts (parsing with
 * locations), interpolate.ts, schema-issues.ts (zod issues in plain words, with
 * did-you-mean.ts), cross-field.ts, normalise.ts; problems.ts holds what they report.
 */
import * as nodePath from 'node:path';
import { crossFieldRules } from './cross-field.js';
import { normalisePolicy } from './normalise.js';
import { describeValue, isPlainObject, policyInvalidError, Problems, type PolicyProblem } from './problems.js';
import { readPolicyText } from './read.js';
import { policySchema } from './schema.js';
import { validateTargets, zodIssues } from './schema-issues.js';
import type { Policy } from './types.js';
import { PolicyTree } from './yaml-tree.js';

export { closest, editDistance } from './did-you-mean.js';
export { formatPath, formatProblem, policyInvalidError, policyProblems, type PolicyProblem } from './problems.js';
export { MAX_POLICY_BYTES, readPolicyText } from './read.js';
export { MAX_ALIAS_EXPANSIONS, MAX_NESTING_DEPTH, MAX_POLICY_VALUES } from './yaml-tree.js';

export interface LoadPolicyOptions {
  /** Environment for `${VAR}` interpolation; pass it explicitly (only src/cli reads process.env). */
  env: Record<string, string | undefined>;
}

/** Reads and loads a policy file. Throws E_POLICY_NOT_FOUND or E_POLICY_INVALID (with `details.problems`). */
export async function loadPolicy(file: string, opts: LoadPolicyOptions): Promise<Policy> {
  const abs = nodePath.resolve(file);
  return parsePolicyText(await readPolicyText(file, abs), abs, opts);
}

/**
 * Parses policy text as if read from `file` (relative paths resolve against its directory).
 * Pure apart from `opts.env`. Throws E_POLICY_INVALID listing every problem.
 */
export function parsePolicyText(text: string, file: string, opts: LoadPolicyOptions): Policy {
  const abs = nodePath.resolve(file);
  const result = validatePolicyText(text, abs, opts);
  if (!result.ok) throw policyInvalidError(file, result.problems);
  return result.policy;
}

export type PolicyValidation = { ok: true; policy: Policy } | { ok: false; problems: PolicyProblem[] };

/** Like parsePolicyText, but returns the problems instead of throwing. */
export function validatePolicyText(text: string, file: string, opts: LoadPolicyOptions): PolicyValidation {
  const abs = nodePath.resolve(file);
  const problems = new Problems(abs);
  const tree = new PolicyTree(text, opts.env, problems);
  if (!tree.read()) return problems.finish();
  const raw = tree.raw;
  if (!isPlainObject(raw)) {
    problems.add(tree.locate([]), [], 'the top level must be a mapping (key: value)', { found: describeValue(raw) });
    return problems.finish();
  }
  crossFieldRules(problems, tree, raw);
  const root = policySchema.safeParse(raw, { reportInput: true });
  if (!root.success) zodIssues(problems, tree, root.error.issues, [], policySchema);
  const targets = validateTargets(problems, tree, raw.targets);
  if (problems.length > 0 || !root.success || targets === undefined) return problems.finish();
  return { ok: true, policy: normalisePolicy(abs, root.data, targets) };
}
