/** Connection settings from @temporalio/envconfig: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, profiles. */
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';

const DEFAULT_ADDRESS = 'localhost:7233';
const DEFAULT_NAMESPACE = 'default';

export interface ConnectionConfig {
  address: string;
  namespace: string;
  /** False when nothing was configured and staged may start its embedded dev server. */
  explicit: boolean;
  options: NativeConnectionOptions;
}

export function loadConnectionConfig(): ConnectionConfig {
  const { connectionOptions, namespace } = loadClientConnectConfig();
  const address = connectionOptions.address ?? DEFAULT_ADDRESS;
  return {
    address,
    namespace: namespace ?? DEFAULT_NAMESPACE,
    explicit: connectionOptions.address !== undefined,
    options: { ...connectionOptions, address },
  };
}
