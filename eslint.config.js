// ESLint flat config: type-aware typescript-eslint rules on the TypeScript sources; Prettier owns the formatting.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', 'experiments/', 'results/', '.staged/', 'docs/'] },
  js.configs.recommended,
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // The issue insists: no floating promises anywhere, above all in workflow and activity code.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests probe the CLI's JSON output (JSON.parse gives `any`) field by field; typing each probe adds nothing.
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  // Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no I/O, no worker or client SDK,
  // and only the types of activities (their code runs on the worker, called through proxyActivities).
  {
    files: ['src/workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: builtinModules.map((name) => ({ name, message: 'Workflow code runs in the sandbox: no Node APIs.' })),
          patterns: [
            { group: ['node:*'], message: 'Workflow code runs in the sandbox: no Node APIs.' },
            {
              group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity', 'execa', 'commander'],
              message: 'Workflow code reaches the outside only through activities and messages.',
            },
            {
              group: ['../activities/*', '../machine/*', '../keeper/*', '../quota/*', '../server/*', '../cli/*'],
              allowTypeImports: true,
              message: 'Workflows import activity types only: the code runs on the worker.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'Workflow code runs in the sandbox: no process.' },
        { name: 'Buffer', message: 'Workflow code runs in the sandbox: no Buffer.' },
      ],
    },
  },
  // The config files at the root (this one, jest.config.js) run under Node.
  {
    files: ['*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  // Turns off the stylistic rules that Prettier owns, so the two never fight; only max-len comes back below.
  prettier,
  {
    rules: {
      // Prettier cannot break strings, comments or template literals, so max-len holds those to 120 too.
      'max-len': [
        'error',
        {
          code: 120,
          ignoreUrls: false,
          ignoreStrings: false,
          ignoreTemplateLiterals: false,
          ignoreComments: false,
          ignoreRegExpLiterals: false,
        },
      ],
    },
  },
);
