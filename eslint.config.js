import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** The test code: unit tests beside the sources, the cross-service tests and their helpers. */
const TEST_FILES = ['**/*.test.ts', 'tests/**/*.ts', 'infra/sim/src/testing/**/*.ts'];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'test-artifacts/**', 'bench/results/**'] },
  js.configs.recommended,
  // Type-aware: each file is checked with the types of the tsconfig.json nearest
  // to it (each workspace's, tests/, bench/), so that a promise nobody awaits or
  // handles, or an async function passed where its promise is dropped, fails.
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
      // Off: an async function without an await is how this code base says
      // "returns a promise": Fastify plugins and hooks (Fastify's plugin API is
      // an async function or a done callback) and implementations of async
      // interfaces (close, stop). Unawaited promises are no-floating-promises' job.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Tests read response bodies with `await res.json()` (typed any) and assert
    // on their fields: the assertion is the type check, a wrong shape fails it.
    // The promise rules stay on.
    files: TEST_FILES,
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // Plain JavaScript (the CLI's bin, the images' health probe, this file)
    // belongs to no tsconfig: no type information, and Node's globals.
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { AbortSignal: 'readonly', URL: 'readonly', console: 'readonly', fetch: 'readonly', process: 'readonly' },
    },
  },
);
