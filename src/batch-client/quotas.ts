/** The quota budgets a batch draws from, as their workflows answer (a worker must be running); declarations. */
import type { WorkflowClient } from '@temporalio/client';
import type { QuotaView } from '../budget/slots.js';
import { newBudget, setNotifications, viewNow, type Declaration } from '../budget/window.js';
import { formatDuration } from '../parse/duration.js';
import type { BatchState, QuotaDeclaration } from '../model/types.js';
import { BUDGET_WORKFLOW, budgetQuery, budgetWorkflowId, declareSignal } from '../protocol/quota-budget.js';
import { notificationsFor, type Notification } from '../model/notifications.js';

/** A submit's notifications (those for `quota-paused` reach its quotas' budgets) and its work directory. */
export interface QuotaNotifications {
  notifications: Notification[];
  workDir: string;
}

/** How long `submit` waits for a budget to say its declaration before writing the new one. */
const DECLARATION_QUERY_MS = 3_000;

/** One view per quota of the batch, as of now; a budget not started yet or not answering is left out. */
export async function quotaViews(client: WorkflowClient, state: BatchState): Promise<QuotaView[]> {
  const names = [...new Set(state.experiments.flatMap((experiment) => experiment.quotas ?? []))];
  const views = await Promise.all(names.map((name) => quotaView(client, state.settings.taskQueue, name)));
  return views.filter((view): view is QuotaView => view !== undefined);
}

/** The budget's view as of now (not as of the budget's last workflow task); undefined when it does not answer. */
export async function quotaView(client: WorkflowClient, taskQueue: string, name: string, deadlineMs?: number) {
  const query = () => client.getHandle(budgetWorkflowId(taskQueue, name)).query(budgetQuery);
  try {
    const view = deadlineMs === undefined ? await query() : await client.withDeadline(Date.now() + deadlineMs, query);
    return viewNow(view, Date.now());
  } catch {
    return undefined;
  }
}

export const declarationText = ({ limit, windowMs }: { limit: number; windowMs: number }) =>
  `${limit}/${formatDuration(windowMs)}`;

/**
 * Writes each quota's declaration into its budget (signal-with-start: no worker needed), which owns it from
 * then on; returns a line for each declaration that differs from the one the budget had.
 */
export async function declareQuotas(
  client: WorkflowClient,
  taskQueue: string,
  quotas: Record<string, QuotaDeclaration>,
  notify?: QuotaNotifications,
): Promise<string[]> {
  const changes = await Promise.all(
    Object.entries(quotas).map(async ([name, declared]) => {
      const before = await quotaView(client, taskQueue, name, DECLARATION_QUERY_MS);
      const declaration: Declaration = { limit: declared.limit, windowMs: declared.windowMs, hosts: declared.hosts };
      if (declared.maxConcurrent !== undefined) declaration.maxConcurrent = declared.maxConcurrent;
      if (notify) {
        declaration.notifications = notificationsFor(notify.notifications, 'quota-paused');
        declaration.workDir = notify.workDir;
      }
      // A budget started now holds its notifications from its start: a 429 signalled before its first task
      // (handled before the declaration there) must find them.
      const started = newBudget(name, declared.limit, declared.windowMs);
      if (declaration.notifications) setNotifications(started, declaration.notifications, declaration.workDir);
      await client.signalWithStart(BUDGET_WORKFLOW, {
        workflowId: budgetWorkflowId(taskQueue, name),
        taskQueue,
        args: [started],
        signal: declareSignal,
        signalArgs: [declaration],
      });
      if (!before || (before.limit === declared.limit && before.windowMs === declared.windowMs)) return undefined;
      const since = before.declaredAt ? ` (declared so since ${new Date(before.declaredAt).toISOString()})` : '';
      return (
        `[QUOTA] ${name}: declaration changed from ${declarationText(before)}${since} ` +
        `to ${declarationText(declared)}; the effective limit is now at most ${declared.limit}`
      );
    }),
  );
  return changes.filter((line): line is string => line !== undefined);
}
