/**
 * A quota's `maxConcurrent`: the experiments using it that run at once, across every batch and machine.
 * The budget workflow keeps these slots; holders are experiment workflows (by id), so a worker crash
 * never frees nor leaks one: the experiment still holds it while its run is adopted or started again.
 * Pure and deterministic.
 */
import type { BudgetView } from './window.js';

export interface SlotRequest {
  /** The experiment workflow's id: the grant is signalled to it, and it releases the slot when it closes. */
  holder: string;
  /** Temporal's priorityKey of the experiment: lower is served first, then first come. */
  priorityKey: number;
}

export interface SlotState {
  holders: string[];
  /** Served by priority, then in order of arrival. */
  waiting: SlotRequest[];
  /** As the budget's declaration says (before, as the last request declared it). */
  maxConcurrent: number;
}

export function newSlots(maxConcurrent: number): SlotState {
  return { holders: [], waiting: [], maxConcurrent };
}

/**
 * Queues a request and returns the holders to tell they have a slot: a holder asking again (its
 * grant signal may have been lost with a crash) is told again.
 */
export function requestSlot(slots: SlotState, request: SlotRequest, maxConcurrent: number): string[] {
  slots.maxConcurrent = maxConcurrent;
  if (slots.holders.includes(request.holder)) return [request.holder, ...fillSlots(slots)];
  if (!slots.waiting.some((waiting) => waiting.holder === request.holder)) {
    const before = slots.waiting.findIndex((waiting) => waiting.priorityKey > request.priorityKey);
    slots.waiting.splice(before === -1 ? slots.waiting.length : before, 0, request);
  }
  return fillSlots(slots);
}

/** A new `maxConcurrent` declared by submit: returns the holders a raised one lets in at once. */
export function resizeSlots(slots: SlotState, maxConcurrent: number): string[] {
  slots.maxConcurrent = maxConcurrent;
  return fillSlots(slots);
}

/** Frees a holder's slot, or withdraws its request; returns the holders newly given a slot. */
export function releaseSlot(slots: SlotState, holder: string): string[] {
  slots.holders = slots.holders.filter((held) => held !== holder);
  slots.waiting = slots.waiting.filter((waiting) => waiting.holder !== holder);
  return fillSlots(slots);
}

function fillSlots(slots: SlotState): string[] {
  const granted: string[] = [];
  while (slots.holders.length < slots.maxConcurrent && slots.waiting.length) {
    const next = slots.waiting.shift()!;
    slots.holders.push(next.holder);
    granted.push(next.holder);
  }
  return granted;
}

interface SlotView {
  maxConcurrent: number;
  running: number;
  waiting: number;
}

export function slotView(slots: SlotState): SlotView {
  return { maxConcurrent: slots.maxConcurrent, running: slots.holders.length, waiting: slots.waiting.length };
}

/** What status, `quota show` and the Web UI show of a quota: its window, and its slots if it has a `maxConcurrent`. */
export type QuotaView = BudgetView & { slots?: SlotView };
