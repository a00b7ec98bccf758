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

/** `pause`/`resume <batchId> <exp>…`: each experiment's run, frozen since when, thawed, or what became of it. */
export function runPauseLines(paused: boolean, answer: SteerAnswer): string[] {
  return answer.experiments.map(({ name, status, pausedSince }) => {
    const tag = paused ? '[PAUSE]' : '[RESUME]';
    if (status !== 'running') return `${tag} ${name}: ${status}, its run no longer goes on`;
    if (paused && pausedSince !== undefined)
      return `${tag} ${name}: frozen since ${new Date(pausedSince).toISOString()}; its --timeout clock is stopped`;
    if (!paused && pausedSince === undefined) return `${tag} ${name}: running again`;
    return (
      `${tag} ${name}: not yet: no worker on its machine has answered (it is carried out once one does), or its ` +
      'run was started by a staged that cannot freeze it'
    );
  });
}
