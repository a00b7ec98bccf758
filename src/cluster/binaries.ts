/** The cluster's programs, built from the Go module proxy when they are not installed (server/go-binary.ts). */
import { temporalServerSetting, temporalSqlToolSetting, temporalUiServerSetting } from '../settings.js';
import type { GoBinary } from '../server/go-binary.js';

const TEMPORAL_SERVER_VERSION = 'v1.29.1';
const UI_SERVER_VERSION = 'v2.42.1';
const RELEASES = 'Install it from https://github.com/temporalio/temporal/releases';

/** Named as in Temporal's release archives and images: `temporal-server`, `temporal-sql-tool`. */
export const TEMPORAL_SERVER: GoBinary = {
  what: 'the Temporal server',
  name: 'temporal-server',
  goPackage: `go.temporal.io/server/cmd/server@${TEMPORAL_SERVER_VERSION}`,
  envVar: 'TEMPORAL_SERVER',
  setting: temporalServerSetting,
  installHint: RELEASES,
};

export const TEMPORAL_SQL_TOOL: GoBinary = {
  what: "Temporal's SQL schema tool",
  name: 'temporal-sql-tool',
  goPackage: `go.temporal.io/server/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`,
  envVar: 'TEMPORAL_SQL_TOOL',
  setting: temporalSqlToolSetting,
  installHint: RELEASES,
};

/** The Web UI's standalone server, its assets embedded. */
export const TEMPORAL_UI_SERVER: GoBinary = {
  what: "Temporal's Web UI server",
  name: 'temporal-ui-server',
  goPackage: `github.com/temporalio/ui-server/v2/cmd/server@${UI_SERVER_VERSION}`,
  envVar: 'TEMPORAL_UI_SERVER',
  setting: temporalUiServerSetting,
  installHint: 'Install it from https://github.com/temporalio/ui-server/releases',
};
