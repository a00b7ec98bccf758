/**
 * One quota's budget, shared by every batch and machine of the namespace and task queue (workflow id
 * `staged-quota/<task queue>/<name>`, run on that queue): workers' quota agents ask it for calls by
 * update, and it grants at most the limit in any window; a reported 429 pauses it. With a
 * `maxConcurrent`, it also hands out that many slots to experiment workflows. Long-lived: it
 * continues as new when its history grows, carrying only the grants still inside a window, and the slots.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { StagedActivities } from '../activities/index.js';
import { TEMPORAL_PRIORITY_KEY } from '../model/types.js';
import { newSlots, releaseSlot, requestSlot, resizeSlots, slotView, type SlotState } from '../budget/slots.js';
import { quotaSlotGrantedSignal } from '../protocol/messages.js';
import { describeNotification, notificationsFor, notifyKey, type NotifyDetail } from '../model/notifications.js';
import { failureReason, notifyActivity } from './notifications.js';
import {
  budgetQuery,
  declareSignal,
  grantCallsUpdate,
  pauseSignal,
  rateLimitedSignal,
  resetSignal,
  slotReleaseSignal,
  slotRequestSignal,
} from '../protocol/quota-budget.js';
import {
  RULES_AIMD,
  budgetView,
  declare,
  forgetExpired,
  grantCalls,
  pauseUntil,
  reportRateLimited,
  resetLimit,
  type BudgetState,
  type GrantRequest,
} from '../budget/window.js';

/** AIMD: a 429 lowers the limit by at most half, and quiet windows raise it again (budget/window.ts, RULES_AIMD). */
export const QUOTA_AIMD_PATCH = 'quota-aimd';

/** Slots follow the budget's declared `maxConcurrent`, not the requests' (and a new declaration resizes them). */
export const QUOTA_OWNED_SLOTS_PATCH = 'quota-owned-slots';

/** A budget declared with notifications sends `quota-paused` when a 429 pauses it. */
export const QUOTA_NOTIFY_PATCH = 'quota-notify';

/** Updates add about five events each: continue well before Temporal's 10,240-event warning. */
const HISTORY_LIMIT = 4_000;

/** How often, while experiments wait for a slot, holders are checked for having closed without releasing it. */
const HOLDER_CHECK_MS = 15_000;

export async function quotaBudgetWorkflow(budget: BudgetState, slots?: SlotState): Promise<void> {
  if (budget.rules !== RULES_AIMD && patched(QUOTA_AIMD_PATCH)) adoptAimd(budget, Date.now());
  const notifying = new Set<Promise<void>>();
  const tellGranted = (holders: string[]) => {
    for (const holder of holders) {
      const sent = notifyHolder(budget.name, holder)
        .then((told) => {
          if (!told && slots) tellGranted(releaseSlot(slots, holder));
        })
        .finally(() => notifying.delete(sent));
      notifying.add(sent);
    }
  };
  setHandler(slotRequestSignal, ({ holder, priorityKey, maxConcurrent }) => {
    const cap = patched(QUOTA_OWNED_SLOTS_PATCH) ? (budget.maxConcurrent ?? maxConcurrent) : maxConcurrent;
    if (cap === undefined) return tellGranted([holder]); // no cap declared (any more): nothing to wait for
    slots ??= newSlots(cap);
    tellGranted(requestSlot(slots, { holder, priorityKey }, cap));
  });
  setHandler(slotReleaseSignal, ({ holder }) => {
    if (slots) tellGranted(releaseSlot(slots, holder));
  });
  void releaseClosedHolders(() => slots, tellGranted);
  setHandler(grantCallsUpdate, (request) => grantCalls(budget, request, Date.now()), {
    validator: (request: GrantRequest) => {
      if (!Number.isInteger(request.calls) || request.calls < 1) throw new Error('calls must be an integer ≥ 1');
    },
  });
  const delivering = new Set<Promise<void>>();
  setHandler(rateLimitedSignal, ({ retryAfterMs }) => {
    const wasPaused = budget.pausedUntil > Date.now();
    reportRateLimited(budget, retryAfterMs, Date.now());
    // One notification per pause: a burst of 429s is one event
    if (!wasPaused && budget.pausedUntil > Date.now()) notifyPaused(budget, delivering);
  });
  // the state lets a reader compute the view at its own now: the workflow's clock stops between tasks
  setHandler(budgetQuery, () => ({
    ...budgetView(budget, Date.now()),
    slots: slots && slotView(slots),
    state: budget,
  }));
  setHandler(pauseSignal, ({ untilMs }) => pauseUntil(budget, untilMs));
  // A budget still on the legacy rules replays histories of workers that had no such handlers: it takes none.
  if (budget.rules === RULES_AIMD) {
    setHandler(declareSignal, (declaration) => {
      declare(budget, declaration, Date.now(), !declaration.fromBatch);
      if (slots && patched(QUOTA_OWNED_SLOTS_PATCH)) {
        // A cap declared away lets every waiting experiment in now, rather than at its next ask
        tellGranted(resizeSlots(slots, budget.maxConcurrent ?? slots.holders.length + slots.waiting.length));
      }
    });
    setHandler(resetSignal, () => resetLimit(budget, Date.now()));
  }
  await condition(() => workflowInfo().historyLength > HISTORY_LIMIT || workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  while (notifying.size) await Promise.all(notifying);
  while (delivering.size) await Promise.all(delivering);
  forgetExpired(budget, Date.now());
  await continueAsNew<typeof quotaBudgetWorkflow>(budget, slots);
}

/** Sends `quota-paused` to the notifications the latest submit declared; a failed one is only logged. */
function notifyPaused(budget: BudgetState, delivering: Set<Promise<void>>): void {
  const notifications = notificationsFor(budget.notifications ?? [], 'quota-paused');
  if (!notifications.length || !patched(QUOTA_NOTIFY_PATCH)) return;
  const { workflowId, taskQueue } = workflowInfo();
  const detail: NotifyDetail = {
    event: 'quota-paused',
    quota: budget.name,
    pausedUntil: budget.pausedUntil,
    idempotencyKey: notifyKey(workflowId, 'quota-paused', budget.pausedUntil),
  };
  for (const notification of notifications) {
    const sending: Promise<void> = notifyActivity(
      notification,
      taskQueue,
    )({
      notification,
      detail,
      workDir: budget.notifyWorkDir,
    })
      .catch((err) => {
        log.warn('a notification failed for good', {
          line: `failed: ${describeNotification(notification)} (quota-paused of ${budget.name}) ${failureReason(err)}`,
        });
      })
      .finally(() => delivering.delete(sending));
    delivering.add(sending);
  }
}

/** A budget of the legacy rules, lowered for good by a 429, climbs back from where it is. */
function adoptAimd(budget: BudgetState, now: number): void {
  budget.rules = RULES_AIMD;
  if (budget.effectiveLimit < budget.limit) {
    budget.recovery = {
      base: budget.effectiveLimit,
      steps: 0,
      windowStart: Math.max(now, budget.pausedUntil),
      atLimit: false,
    };
  }
}

/** Whether the holder was told; one that cannot be (closed meanwhile) gives its slot back. */
async function notifyHolder(quota: string, holder: string): Promise<boolean> {
  try {
    await getExternalWorkflowHandle(holder).signal(quotaSlotGrantedSignal, { quota });
    return true;
  } catch (err) {
    log.info('a slot holder could not be told; its slot is released', { holder, error: String(err) });
    return false;
  }
}

/**
 * An experiment workflow terminated by hand never releases its slot: while others wait, holders are
 * checked every 15 s (a few describe calls), and closed ones release theirs.
 */
async function releaseClosedHolders(slotsNow: () => SlotState | undefined, tellGranted: (holders: string[]) => void) {
  const { closedWorkflows } = proxyActivities<StagedActivities>({
    taskQueue: workflowInfo().taskQueue,
    startToCloseTimeout: '1 minute',
    priority: { priorityKey: TEMPORAL_PRIORITY_KEY.critical },
    retry: { maximumAttempts: 3 },
  });
  for (;;) {
    await condition(() => (slotsNow()?.waiting.length ?? 0) > 0);
    await sleep(HOLDER_CHECK_MS);
    const slots = slotsNow();
    if (!slots?.waiting.length) continue;
    try {
      for (const holder of await closedWorkflows([...slots.holders])) tellGranted(releaseSlot(slots, holder));
    } catch (err) {
      log.warn('could not check the slot holders', { error: String(err) });
    }
  }
}
