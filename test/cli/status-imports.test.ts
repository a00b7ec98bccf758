/**
 * `status` stays light: it reaches the workflows by name (src/protocol/) instead of importing their code,
 * so neither the workflow SDK nor the worker's is loaded by it.
 * Its binary loads only the protobuf definitions of the calls it makes (batch-client/status-root.ts), all of it from
 * one bundle (cli/status-bundle-build.ts).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { BATCH_WORKFLOW, EXPERIMENT_WORKFLOW } from '../../src/protocol/messages.js';
import { BUDGET_WORKFLOW } from '../../src/protocol/quota-budget.js';
import { STATUS_CALLS } from '../../src/batch-client/status-root.js';
import * as workflows from '../../src/workflows/index.js';

test('the workflow names the protocol gives are those the worker registers', () => {
  expect(Object.keys(workflows).sort()).toEqual([BATCH_WORKFLOW, EXPERIMENT_WORKFLOW, BUDGET_WORKFLOW].sort());
  expect([workflows.batchWorkflow.name, workflows.experimentWorkflow.name, workflows.quotaBudgetWorkflow.name]).toEqual(
    [BATCH_WORKFLOW, EXPERIMENT_WORKFLOW, BUDGET_WORKFLOW],
  );
});

test('the status command loads neither @temporalio/workflow nor @temporalio/worker', async () => {
  const status = fileURLToPath(new URL('../../src/cli/commands/status.js', import.meta.url));
  // The Temporal packages are CommonJS: every file of theirs that was loaded is in require's cache.
  const script =
    `await import(${JSON.stringify(status)});` +
    `const { createRequire } = await import('node:module');` +
    `console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));`;
  const { stdout } = await execa(process.execPath, ['--input-type=module', '-e', script]);
  const loaded: string[] = JSON.parse(stdout);
  expect(loaded.some((file) => file.includes('/@temporalio/client/'))).toBe(true); // the check sees packages
  expect(loaded.filter((file) => /\/@temporalio\/(workflow|worker)\//.test(file))).toEqual([]);
});

test('the status binary loads the protobuf root cut for it at build, with the calls status makes', async () => {
  const statusRoot = fileURLToPath(new URL('../../src/batch-client/status-root.js', import.meta.url));
  const status = fileURLToPath(new URL('../../src/cli/commands/status.js', import.meta.url));
  const script =
    `const { installStatusRoot } = await import(${JSON.stringify(statusRoot)});` +
    `const installed = installStatusRoot();` +
    `await import(${JSON.stringify(status)});` +
    `const { createRequire } = await import('node:module');` +
    `const proto = createRequire(import.meta.url)('@temporalio/proto');` +
    `const methods = Object.keys(proto.temporal.api.workflowservice.v1.WorkflowService.methods);` +
    `console.log(JSON.stringify({ installed, whole: 'coresdk' in proto, methods }));`;
  const { stdout } = await execa(process.execPath, ['--input-type=module', '-e', script]);
  expect(JSON.parse(stdout)).toEqual({
    installed: true,
    whole: false,
    methods: STATUS_CALLS['temporal.api.workflowservice.v1.WorkflowService'],
  });
});

test('the status binary loads its modules from the status bundle, none from node_modules', async () => {
  const dist = fileURLToPath(new URL('../../src/', import.meta.url));
  expect(existsSync(`${dist}cli/status-bundle.cjs`)).toBe(true); // npm run build made it
  // NODE_DEBUG names every module Node loads, ES and CommonJS (the bundle itself is a script run by code-cache.js);
  // an unreachable server ends status at once.
  const { stderr, exitCode } = await execa(process.execPath, [`${dist}client.js`, 'status', 'some-batch'], {
    env: { NODE_DEBUG: 'module,esm', TEMPORAL_ADDRESS: '127.0.0.1:1' },
    reject: false,
  });
  expect(exitCode).not.toBe(0);
  expect(stderr).toContain('no Temporal server answers at 127.0.0.1:1'); // the command itself ran
  const loaded = [
    ...[...stderr.matchAll(/Storing (file:\S+)/g)].map(([, url]) => fileURLToPath(url)),
    ...[...stderr.matchAll(/MODULE \d+: load "([^"]+)"/g)].map(([, file]) => file),
  ];
  expect(loaded.filter((file) => file.includes('/node_modules/'))).toEqual([]);
  expect(loaded.sort()).toEqual(
    ['batch-client/status-root.js', 'cli/code-cache.js', 'client.js', 'errors.js'].map((file) => dist + file),
  );
});
