/** The `notify` activity: runs a notification's command or POSTs to its webhook, once per attempt. */
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ApplicationFailure } from '@temporalio/common';
import { attemptLogFile } from '../paths.js';
import {
  COMMAND_TIMEOUT_MS,
  describeNotification,
  notificationEnvironment,
  webhookPayload,
  type Delivery,
  WEBHOOK_TIMEOUT_MS,
} from '../model/notifications.js';
import { checkServedDirectory } from '../machine/script-check.js';

/** Of the command's output, the end kept for the failure message. */
const OUTPUT_TAIL = 300;

/** The run's log, as `logs` finds it; none for an event about no run. */
function logOf({ detail, workDir }: Delivery): string | undefined {
  if (!workDir || !detail.batchId || !detail.experiment || !detail.run) return undefined;
  return attemptLogFile(workDir, detail.batchId, detail.experiment, detail.run);
}

export async function notify(delivery: Delivery, allowedRoots: string[]): Promise<void> {
  const { notification, detail } = delivery;
  const log = logOf(delivery);
  if (notification.webhook !== undefined) return post(notification.webhook, webhookPayload(detail, log), detail);
  if (notification.command === undefined) throw nonRetryable(`${describeNotification(notification)}: nothing to send`);
  if (!delivery.workDir) throw nonRetryable(`${describeNotification(notification)}: no work directory to run in`);
  // A command is a script of the batch's: it runs only where the batch's scripts may run.
  const cwd = await checkServedDirectory('work directory', delivery.workDir, allowedRoots);
  await runCommand(notification.command, cwd, notificationEnvironment(detail, log));
}

/** POSTs the body; a 2xx answer is a success. node:http rather than fetch, which refuses some ports (6000, 6667…). */
async function post(url: string, payload: Record<string, unknown>, detail: Delivery['detail']): Promise<void> {
  const body = JSON.stringify(payload);
  const status = await new Promise<number>((resolve, reject) => {
    const request = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'idempotency-key': detail.idempotencyKey,
      },
      timeout: WEBHOOK_TIMEOUT_MS,
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${WEBHOOK_TIMEOUT_MS / 1000}s`)));
    request.on('error', (err: NodeJS.ErrnoException) => reject(new Error(err.code ?? err.message, { cause: err })));
    request.on('response', (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.end(body);
  });
  if (status >= 200 && status < 300) return;
  const why = `HTTP ${status}`;
  // Asked wrongly: sending the same again cannot help. Busy or down: it may.
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) throw nonRetryable(why);
  throw new Error(why);
}

function runCommand(command: string, cwd: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    // Its own process group: on a timeout the whole tree is stopped, not only the shell.
    const child = spawn('/bin/sh', ['-c', command], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-OUTPUT_TAIL));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, COMMAND_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const tail = output.trim() ? `: ${output.trim()}` : '';
      if (timedOut) return reject(new Error(`timed out after ${COMMAND_TIMEOUT_MS / 1000}s${tail}`));
      reject(new Error(`${code === null ? `killed by ${signal}` : `exit code ${code}`}${tail}`));
    });
  });
}

function nonRetryable(message: string): ApplicationFailure {
  return ApplicationFailure.create({ message, nonRetryable: true });
}
