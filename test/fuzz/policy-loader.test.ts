import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { parsePolicyText } from '../../src/policy/load.js';
import { ROOT } from '../helpers/triad.js';
import { bytesFor, decodesOrNamesDamage, runs } from './mutate.js';

/*
 * The policy loader gets mutated YAML, starting from every shipped example and fixture:
 * it loads a policy or throws E_POLICY_INVALID / E_POLICY_NOT_FOUND (exit 2), never a crash.
 */

const dirs = [join(ROOT, 'policies'), join(ROOT, 'fixtures', 'policies'), join(ROOT, 'fixtures', 'policies', 'bad')];
const files = dirs.flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.yaml')).map((f) => join(d, f)));
const texts = files.map((f) => readFileSync(f));

/** Every variable the examples interpolate, set, so a mutation reaches the schema rather than stopping at an unset variable. */
const env = new Proxy({} as Record<string, string | undefined>, { get: (_, k) => (typeof k === 'string' && /^[A-Z_][A-Z0-9_]*$/.test(k) ? 'x' : undefined) });

/** YAML tokens that reach other paths of the parser than random bytes do. */
const TOKENS = ['&a ', '*a', '<<: *a', '!!binary ', '!!js/function ', '? ', '- ', ': ', '{', '}', '[', ']', '|\n', '>-\n', '%YAML 1.1\n', '---\n', '...\n', '"\\u0000"', '~', '0x7fffffff', '1e400', '${X}', '${', '\t', '#', "'", '\n  ', ':\n    - '];

const lineEdit = fc.tuple(fc.nat(), fc.nat(), fc.constantFrom(...TOKENS), fc.constantFrom('insert', 'delete', 'duplicate', 'swap' as const)).map(
  ([a, b, token, op]) =>
    (text: string): string => {
      const lines = text.split('\n');
      const i = a % lines.length;
      const j = b % lines.length;
      if (op === 'delete') lines.splice(i, 1);
      else if (op === 'duplicate') lines.splice(i, 0, lines[i]!);
      else if (op === 'swap') [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      else lines[i] = lines[i]!.slice(0, b % (lines[i]!.length + 1)) + token + lines[i]!.slice(b % (lines[i]!.length + 1));
      return lines.join('\n');
    },
);

function mutatedYaml(text: Buffer): fc.Arbitrary<string> {
  return fc.oneof(
    bytesFor(text).map((b) => b.toString('utf8')),
    fc.array(lineEdit, { minLength: 1, maxLength: 5 }).map((edits) => edits.reduce((t, e) => e(t), text.toString('utf8'))),
  );
}

describe('the policy loader', () => {
  it(`loads or refuses (exit 2) mutations of the ${files.length} example and fixture policies`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: texts.length - 1 }).chain((i) => fc.tuple(fc.constant(files[i]!), mutatedYaml(texts[i]!))),
        ([file, text]) => decodesOrNamesDamage(() => parsePolicyText(text, file, { env }), [ExitCode.USAGE]),
      ),
      runs(600),
    );
  });
});
