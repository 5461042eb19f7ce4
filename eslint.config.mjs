// typescript-eslint's type-checked recommended rules on src/, plus DESIGN.md §1's rules on
// where the environment and the wall clock may be read.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/**', 'scripts/**', 'test/**', 'vitest.config.ts', 'eslint.config.mjs', '.dependency-cruiser.cjs'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // `const { omitted, ...rest } = row` is how a field is left out of a copy.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Only src/cli reads the environment; pass values down (DESIGN.md §1).' },
        { object: 'Date', property: 'now', message: 'Read time from the injected Clock (core/clock.ts).' },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Read time from the injected Clock (core/clock.ts).' },
      ],
    },
  },
  // Randomness comes from core (seeded samples, tokens, secrets) and, for keys and nonces, repo/crypto.
  {
    files: ['src/**'],
    ignores: ['src/core/**', 'src/repo/crypto/**'],
    rules: { 'no-restricted-imports': ['error', { paths: [{ name: 'node:crypto', importNames: ['randomBytes', 'randomFillSync', 'randomInt', 'randomUUID'], message: 'Take randomness from core/random.ts or core/token.ts (DESIGN.md §1).' }] }] },
  },
  // The CLI is where the environment is read; the clock module is where the wall clock is.
  { files: ['src/cli/**'], rules: { 'no-restricted-properties': ['error', { object: 'Date', property: 'now', message: 'Read time from the injected Clock (core/clock.ts).' }] } },
  { files: ['src/core/clock.ts'], rules: { 'no-restricted-properties': 'off', 'no-restricted-syntax': 'off' } },
);
