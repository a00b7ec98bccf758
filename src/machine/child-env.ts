/**
 * The environment an experiment process gets: the worker's own, minus the settings and secrets of
 * its Temporal connection (a script must not be able to start workflows, i.e. run code on every
 * worker, with the worker's credentials), plus staged's per-run variables. Everything else passes
 * through on purpose: users' own data-API keys (`*_API_KEY`, `AWS_*`, …) must reach their scripts.
 */

/**
 * Every variable the Temporal SDK's environment configuration reads starts with `TEMPORAL_`
 * (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_GRPC_META_*,
 * TEMPORAL_CODEC_*, TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE), so the whole prefix is withheld.
 */
const TEMPORAL_VARIABLE_PATTERN = /^TEMPORAL_/;

/** staged's own connection settings: where the worker polls and clients start workflows. */
const STAGED_CONNECTION_VARIABLES: readonly string[] = ['STAGED_TASK_QUEUE'];

/** True for a variable experiments never see. */
export function isConnectionVariable(name: string): boolean {
  return TEMPORAL_VARIABLE_PATTERN.test(name) || STAGED_CONNECTION_VARIABLES.includes(name);
}

/**
 * `parent` without the connection variables, then `extra` on top (as given: the caller's own
 * per-run values win). Spawn with it as the whole environment (execa: `extendEnv: false`), or
 * the parent's variables come back.
 */
export function experimentEnvironment(
  parent: NodeJS.ProcessEnv,
  extra: Record<string, string>,
): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const [name, value] of Object.entries(parent)) {
    if (value !== undefined && !isConnectionVariable(name)) environment[name] = value;
  }
  return { ...environment, ...extra };
}
