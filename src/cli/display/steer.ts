/** What `add`, `change`, `pause` and `resume` print: the batch's answer to the change. */
import type { SteerAnswer } from '../../model/steering.js';

export function batchLine(batchId: string, answer: SteerAnswer): string {
  const paused = answer.pausedSince === null ? 'running' : `paused since ${new Date(answer.pausedSince).toISOString()}`;
  return `Batch ${batchId}: ${paused}, max concurrent ${answer.maxConcurrent}, max retries ${answer.maxRetries}`;
}

export function experimentLines(tag: string, answer: SteerAnswer): string[] {
  return answer.experiments.map(({ name, priority, status, place }) => {
    const where = place === null ? status : `${status}, ${ordinal(place)} in the queue`;
    return `[${tag}] ${name} (Priority: ${priority.toUpperCase()}): ${where}`;
  });
}

function ordinal(place: number): string {
  const tens = place % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][place % 10] ?? 'th');
  return `${place}${suffix}`;
}
