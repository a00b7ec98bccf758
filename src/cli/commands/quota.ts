/** `quota show|pause|resume`: the quotas of staged.config.json and their budgets, paused or resumed by hand. */
import type { Client } from '@temporalio/client';
import { withClient } from '../../batch-client/index.js';
import { loadProjectConfig } from '../../config.js';
import { BadInputError, EXIT } from '../../errors.js';
import type { QuotaView } from '../../quota/slots.js';
import { taskQueueSetting } from '../../settings.js';
import { parseDuration } from '../../shared/duration.js';
import { budgetQuery, budgetWorkflowId, pauseSignal } from '../../workflows/quota-budget.js';
import type { OptionsOf } from '../command-table.js';
import { quotaLine } from '../display/render.js';
import { resolveWorkDir } from '../invocation.js';

export async function run([action, name, duration]: (string | undefined)[], options: OptionsOf<'quota'>) {
  const { quotas } = await loadProjectConfig(resolveWorkDir(options.workDir));
  const names = Object.keys(quotas);
  if (action !== 'show' && action !== 'pause' && action !== 'resume') {
    throw new BadInputError(`unknown action "${action ?? ''}": use show, pause NAME DURATION or resume NAME`);
  }
  if (action !== 'show' && (name === undefined || !names.includes(name))) {
    throw new BadInputError(`unknown quota "${name ?? ''}": staged.config.json declares ${names.join(', ') || 'none'}`);
  }
  const pauseMs = action === 'pause' ? parseDuration(duration ?? '') : 0;
  const taskQueue = taskQueueSetting();
  return withClient(async (client) => {
    if (action === 'show') return show(client, taskQueue, name ? [name] : names, options.json);
    const handle = client.workflow.getHandle(budgetWorkflowId(taskQueue, name!));
    await handle.signal(pauseSignal, { untilMs: action === 'pause' ? Date.now() + pauseMs : 0 });
    console.log(action === 'pause' ? `[QUOTA] ${name} paused for ${duration}` : `[QUOTA] ${name} resumed`);
    return EXIT.ok;
  });
}

async function show(client: Client, taskQueue: string, names: string[], json: boolean): Promise<number> {
  const views = await Promise.all(
    names.map((name) =>
      client.workflow
        .getHandle(budgetWorkflowId(taskQueue, name))
        .query(budgetQuery)
        .catch((): QuotaView | undefined => undefined),
    ),
  );
  if (json) {
    console.log(
      JSON.stringify({ quotas: names.map((name, index) => views[index] ?? { name, started: false }) }, null, 2),
    );
    return EXIT.ok;
  }
  if (!names.length) console.log('No quotas: declare them in staged.config.json ("quotas").');
  names.forEach((name, index) => {
    const view = views[index];
    console.log(view ? quotaLine(view, Date.now()) : `[QUOTA] ${name}: no call asked yet (or no worker answers)`);
  });
  return EXIT.ok;
}
