/**
 * `status` loads only the protobuf definitions of the calls it makes: a root cut at `npm run build` from the SDK's own
 * (status-root-build.ts) takes the place of the SDK's whole root (580 KB of definitions, the costliest part of loading
 * `@temporalio/client`) in require's cache, before the client is loaded. Anything amiss (not built, another SDK
 * version, the SDK loaded already) leaves the whole root.
 */
import { readFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const STATUS_ROOT_PATH = fileURLToPath(new URL('../../status-root.json', import.meta.url));

/** The module of `@temporalio/proto` that builds the SDK's root from its definitions. */
const SDK_ROOT_MODULE = '@temporalio/proto/protos/json-module.js';

/**
 * The calls status makes, by service (the rest of each service is left out); the client creates the services with
 * no call listed, so they stay, empty. A call status makes that is missing here fails in the binary only
 * (test/cli/status-running.system.test.ts runs it).
 */
export const STATUS_CALLS: Record<string, string[]> = {
  'temporal.api.workflowservice.v1.WorkflowService': [
    'GetSystemInfo',
    'DescribeNamespace',
    'DescribeWorkflowExecution',
    'QueryWorkflow',
    'GetWorkflowExecutionHistory',
    'GetWorkflowExecutionHistoryReverse',
    'ListWorkflowExecutions',
    'DescribeTaskQueue',
  ],
  'temporal.api.operatorservice.v1.OperatorService': [],
  'temporal.api.testservice.v1.TestService': [],
  'grpc.health.v1.Health': ['Check'],
};

/** What an error's details and payloads may hold, kept whole. */
export const WHOLE_PACKAGES = [
  'temporal.api.enums',
  'temporal.api.common',
  'temporal.api.failure',
  'temporal.api.errordetails',
  'google',
];

export interface StatusRootFile {
  /** The version of `@temporalio/proto` it was cut from. */
  sdkVersion: string;
  definitions: object;
}

interface ProtobufLight {
  Root: { fromJSON(json: object): unknown };
}

const here = createRequire(import.meta.url);

/** The SDK's protobufjs (the one its root is an instance of) and its version. */
export function sdkProto(): { protobuf: ProtobufLight; version: string; rootModule: string } {
  const packageFile = here.resolve('@temporalio/proto/package.json');
  const { version } = here(packageFile) as { version: string };
  const protobuf = createRequire(packageFile)('protobufjs/light') as ProtobufLight;
  return { protobuf, version, rootModule: here.resolve(SDK_ROOT_MODULE) };
}

/** Puts the status root in the SDK's place; true when it did. Call it before anything loads `@temporalio/client`. */
export function installStatusRoot(): boolean {
  try {
    const { protobuf, version, rootModule } = sdkProto();
    if (here.cache[rootModule]) return false;
    const file = JSON.parse(readFileSync(STATUS_ROOT_PATH, 'utf8')) as StatusRootFile;
    if (file.sdkVersion !== version) return false;
    const module = new Module(rootModule);
    module.filename = rootModule;
    module.exports = protobuf.Root.fromJSON(file.definitions);
    module.loaded = true;
    here.cache[rootModule] = module;
    return true;
  } catch {
    return false;
  }
}
