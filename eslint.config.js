// ESLint (flat config): typescript-eslint's recommended rules with type information, plus the
// rules that catch real bugs in this code base: promises nobody awaits or that land where a
// callback's result is ignored (a rejected write job that nobody hears of), loose equality,
// unused code. Formatting is Prettier's job (`npm run format`), not ESLint's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    // Built output, generated code (npm run openapi writes both) and the native build.
    ignores: ['dist/', 'native/build/', 'node_modules/', 'openapi/', '.scratch/', 'services/client/api-types.ts'],
  },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      // node:test's test() and describe() return promises that the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
      // `cond ? a() : b()` as a statement is used on purpose (endianness switches in fixtures).
      '@typescript-eslint/no-unused-expressions': ['error', { allowTernary: true, allowShortCircuit: true }],
      // Arrays, numbers and the like in messages read fine ("shape 2,3"); `never` appears in
      // exhaustiveness errors that can only run on bad input.
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowArray: true, allowNumber: true, allowBoolean: true, allowNullish: true, allowNever: true, allowRegExp: true },
      ],
      // Turned off, with reasons:
      // - require-await: fastify plugins and route handlers are async by contract, with or
      //   without an await inside.
      // - unbound-method: flags every destructuring of a services object (`const { jobs } =
      //   app.ph5`), whose members are plain functions or bound already.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    // Tests read JSON answers and h5py output, typed `any` by nature; checking every property
    // access of those would add casts, not find bugs.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // Plain JavaScript: the build's dependency finder (CommonJS) and this file.
    files: ['**/*.cjs', '**/*.js'],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', require: 'readonly', module: 'writable', __dirname: 'readonly' },
    },
  },
);
