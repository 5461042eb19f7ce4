/**
 * The strict schemas run on the located tree, and their issues translated into problems a
 * sysadmin can act on: plain words, the line of the field, and a "did you mean" for typos.
 */
import type * as z from 'zod';
import { closest } from './did-you-mean.js';
import { describeValue, formatPath, isPlainObject, keyOf, type PathArr, type Problems, type Seg } from './problems.js';
import { knownKeysAt, targetSchemas, NAME_PATTERN, TARGET_TYPES, type WrittenTarget } from './schema.js';
import type { PolicyTree } from './yaml-tree.js';

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'a mapping (key: value)',
  array: 'a list',
  record: 'a mapping (key: value)',
};

export function zodIssues(problems: Problems, tree: PolicyTree, issues: readonly z.core.$ZodIssue[], prefix: PathArr, schema: z.ZodType): void {
  for (const issue of issues) {
    const rel = issue.path.filter((s): s is Seg => typeof s !== 'symbol');
    const path = [...prefix, ...rel];
    // `targets` entries are validated one by one with the schema of their type.
    if (prefix.length === 0 && rel[0] === 'targets' && rel.length > 1) continue;
    if (problems.reported.has(keyOf(path))) continue;
    zodIssue(problems, tree, issue, path, rel, schema);
  }
}

function zodIssue(problems: Problems, tree: PolicyTree, issue: z.core.$ZodIssue, path: PathArr, rel: PathArr, schema: z.ZodType): void {
  const input = (issue as { input?: unknown }).input;
  const found = input === undefined ? undefined : describeValue(input);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = knownKeysAt(schema, rel) ?? [];
      for (const key of issue.keys) {
        const keyPath = [...path, key];
        problems.add(tree.locate(keyPath, true), keyPath, `unknown key \`${key}\`${suggest(tree, key, known, path, rel, schema)}`, {
          expected: known.length ? `one of: ${known.join(', ')}` : 'no further keys',
        });
      }
      return;
    }
    case 'invalid_type': {
      const expected = TYPE_WORDS[issue.expected] ?? issue.expected;
      if (tree.rawAt(path) === undefined) {
        problems.add(tree.locate(path), path, `missing required field \`${String(path[path.length - 1])}\``, { expected });
      } else {
        problems.add(tree.locate(path), path, `expected ${expected}, found ${found}`, { expected, ...(found !== undefined ? { found } : {}) });
      }
      return;
    }
    case 'invalid_value': {
      const values = issue.values.map((v) => String(v));
      if (path.length === 1 && path[0] === 'version') {
        problems.add(tree.locate(path), path, `unsupported policy version ${found}: this triad reads version 1`, { expected: '1', ...(found !== undefined ? { found } : {}) });
        return;
      }
      const near = typeof input === 'string' ? closest(input, values) : undefined;
      problems.add(
        tree.locate(path),
        path,
        `expected one of ${values.join(', ')}; found ${found}${near ? ` (did you mean \`${near}\`?)` : ''}`,
        { expected: `one of: ${values.join(', ')}`, ...(found !== undefined ? { found } : {}) },
      );
      return;
    }
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const msg = issue.message.startsWith('Too ')
        ? `${issue.code === 'too_small' ? 'must be at least' : 'must be at most'} ${String(bound)}`
        : issue.message;
      problems.add(tree.locate(path), path, msg, found !== undefined && issue.origin !== 'array' ? { found } : {});
      return;
    }
    case 'invalid_union': {
      const last = path[path.length - 1];
      const expected = last === 'sample' ? 'a percentage such as 5%, {files: 200} or {bytes: 2GiB}' : 'one of the accepted forms';
      problems.add(tree.locate(path), path, `expected ${expected}, found ${found}`, { expected, ...(found !== undefined ? { found } : {}) });
      return;
    }
    case 'custom': {
      const expected = (issue.params as { expected?: string } | undefined)?.expected;
      problems.add(tree.locate(path), path, issue.message, { ...(expected ? { expected } : {}), ...(found !== undefined ? { found } : {}) });
      return;
    }
    default:
      problems.add(tree.locate(path), path, issue.message, found !== undefined ? { found } : {});
  }
}

/** " (did you mean `retention`?)", or where the key belongs when it is in the wrong place. */
function suggest(tree: PolicyTree, key: string, known: readonly string[], path: PathArr, rel: PathArr, schema: z.ZodType): string {
  const near = closest(key, known);
  if (near) return ` (did you mean \`${near}\`?)`;
  for (const child of known) {
    const inner = knownKeysAt(schema, [...rel, child]);
    if (inner?.includes(key)) return ` (\`${key}\` belongs under \`${formatPath([...path, child])}\`)`;
  }
  if (path[0] === 'targets' && path.length === 2) {
    const type = (tree.rawAt(path) as { type?: unknown } | undefined)?.type;
    for (const t of TARGET_TYPES) {
      if (t !== type && knownKeysAt(targetSchemas[t], [])?.includes(key)) return ` (\`${key}\` is a field of ${t} targets; this target is type ${String(type)})`;
    }
  }
  return '';
}

/** Each target checked with the schema of its type; the targets when all of them are valid. */
export function validateTargets(problems: Problems, tree: PolicyTree, raw: unknown): Map<string, WrittenTarget> | undefined {
  if (!isPlainObject(raw)) return undefined; // the root schema reports missing / wrong type
  const out = new Map<string, WrittenTarget>();
  const names = Object.keys(raw);
  if (names.length === 0) {
    problems.add(tree.locate(['targets']), ['targets'], 'at least one target is required', { expected: 'a mapping of target name → {type, …}' });
    return undefined;
  }
  let ok = true;
  for (const name of names) {
    const path = ['targets', name];
    const t = raw[name];
    if (!NAME_PATTERN.test(name)) {
      problems.add(tree.locate(path, true), path, `invalid target name \`${name}\`: lower-case letters, digits, ".", "_" and "-", starting with a letter or digit`);
      ok = false;
    }
    if (!isPlainObject(t)) {
      problems.add(tree.locate(path), path, `expected a mapping with the target's type and location, found ${describeValue(t)}`, {
        expected: 'a mapping (key: value)',
      });
      ok = false;
      continue;
    }
    const type = t.type;
    if (type === undefined) {
      problems.add(tree.locate(path, true), [...path, 'type'], 'missing required field `type`', { expected: `one of: ${TARGET_TYPES.join(', ')}` });
      ok = false;
      continue;
    }
    if (typeof type !== 'string' || !(TARGET_TYPES as readonly string[]).includes(type)) {
      const near = typeof type === 'string' ? closest(type, TARGET_TYPES) : undefined;
      problems.add(
        tree.locate([...path, 'type']),
        [...path, 'type'],
        `unknown target type ${describeValue(type)}${near ? ` (did you mean \`${near}\`?)` : ''}; triad supports ${TARGET_TYPES.join(', ')}`,
        { expected: `one of: ${TARGET_TYPES.join(', ')}`, found: describeValue(type) },
      );
      ok = false;
      continue;
    }
    const schema = targetSchemas[type as keyof typeof targetSchemas];
    const parsed = schema.safeParse(t, { reportInput: true });
    if (!parsed.success) {
      zodIssues(problems, tree, parsed.error.issues, path, schema);
      ok = false;
    } else out.set(name, parsed.data);
  }
  return ok ? out : undefined;
}
