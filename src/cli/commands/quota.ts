/**
 * `quota show|pause|resume|reset`: the quotas of staged.config.json and their budgets, paused, resumed or
 * reset by hand. A budget not started yet is started by pause, resume and reset (no call needs to come first).
 */
import type { Client } from '@temporalio/client';
import { declarationText, quotaView, withClient } from '../../batch-client/index.js';
import { BUDGET_WORKFLOW, budgetWorkflowId, pauseSignal, resetSignal } from '../../protocol/quota-budget.js';
import { loadProjectConfig } from '../../config.js';
import { BadInputError, EXIT } from '../../errors.js';
import { newBudget, type LimitEvent } from '../../budget/window.js';
import { parseDuration } from '../../parse/duration.js';
import type { QuotaDeclaration } from '../../model/types.js';
import type { OptionsOf } from '../command-table.js';
import { quotaLine } from '../display/render.js';
import { resolveWorkDir } from '../invocation.js';

const ACTIONS = ['show', 'pause', 'resume', 'reset'] as const;
type Action = (typeof ACTIONS)[number];

export async function run([action, name, duration]: (string | undefined)[], options: OptionsOf<'quota'>) {
  const { quotas } = await loadProjectConfig(resolveWorkDir(options.workDir));
  const names = Object.keys(quotas);
  if (!ACTIONS.includes(action as Action)) {
    throw new BadInputError(
      `unknown action "${action ?? ''}": use show, pause NAME DURATION, resume NAME or reset NAME`,
    );
  }
  if (action !== 'show' && (name === undefined || !names.includes(name))) {
    throw new BadInputError(`unknown quota "${name ?? ''}": staged.config.json declares ${names.join(', ') || 'none'}`);
  }
  const pauseMs = action === 'pause' ? pauseDuration(duration) : 0;
  const { taskQueue } = options;
  return withClient(async (client) => {
    if (action === 'show') return show(client, taskQueue, name ? [name] : names, options.json);
    const untilMs = action === 'pause' ? Date.now() + pauseMs : 0;
    const [signal, signalArgs] = action === 'reset' ? [resetSignal.name, []] : [pauseSignal.name, [{ untilMs }]];
    await signalBudget(client, taskQueue, name!, quotas[name!], signal, signalArgs);
    console.log(
      action === 'pause'
        ? `[QUOTA] ${name} paused for ${duration}`
        : action === 'resume'
          ? `[QUOTA] ${name} resumed`
          : `[QUOTA] ${name}: limit reset to the declared ${declarationText(quotas[name!])}, no pause`,
    );
    return EXIT.ok;
  });
}

function pauseDuration(duration: string | undefined): number {
  if (duration === undefined) throw new BadInputError('quota pause needs a duration: pause NAME 15m');
  try {
    return parseDuration(duration);
  } catch (err) {
    throw new BadInputError(`quota pause: ${(err as Error).message}`);
  }
}

/** Signals the budget, starting it (with the declaration of staged.config.json) if no call was asked yet. */
async function signalBudget(
  client: Client,
  taskQueue: string,
  name: string,
  declared: QuotaDeclaration,
  signal: string,
  signalArgs: unknown[],
): Promise<void> {
  await client.workflow.signalWithStart(BUDGET_WORKFLOW, {
    workflowId: budgetWorkflowId(taskQueue, name),
    taskQueue,
    args: [newBudget(name, declared.limit, declared.windowMs)],
    signal,
    signalArgs,
  });
}

async function show(client: Client, taskQueue: string, names: string[], json: boolean): Promise<number> {
  const views = await Promise.all(names.map((name) => quotaView(client.workflow, taskQueue, name)));
  if (json) {
    console.log(
      JSON.stringify({ quotas: names.map((name, index) => views[index] ?? { name, started: false }) }, null, 2),
    );
    return EXIT.ok;
  }
  if (!names.length) console.log('No quotas: declare them in staged.config.json ("quotas").');
  const now = Date.now();
  names.forEach((name, index) => {
    const view = views[index];
    if (!view) return console.log(`[QUOTA] ${name}: no call asked yet (or no worker answers)`);
    console.log(quotaLine(view, now));
    if (view.declaredAt) console.log(`  declared ${declarationText(view)} by submit at ${clock(view.declaredAt)}`);
    for (const event of view.history ?? []) console.log(`  ${clock(event.at)} ${eventText(event)}`);
  });
  return EXIT.ok;
}

const clock = (at: number) =>
  new Date(at)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');

function eventText(event: LimitEvent): string {
  if (event.event === 'lowered') {
    return `429 with ${event.callsInWindow} calls in the window: limit lowered ${event.before} → ${event.limit}`;
  }
  if (event.event === 'reset') return `reset by hand: limit ${event.before} → ${event.limit}`;
  const { declaration } = event;
  const before =
    declaration && declarationText({ limit: declaration.beforeLimit, windowMs: declaration.beforeWindowMs });
  const after = declaration && declarationText(declaration);
  return `declaration changed ${before} → ${after}: limit ${event.before} → ${event.limit}`;
}
