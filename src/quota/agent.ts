/**
 * A worker's quota agent. The runs on this machine ask it for calls over a UNIX socket (HTTP, a
 * per-run secret; nothing listens on the network); it asks the quota's budget workflow for them,
 * a few calls at a time, and hands each grant to a call that is waiting, at once.
 * Protocol: POST /acquire {"quota", "calls"} answers 200 once granted; POST /rate-limited
 * {"quota", "retryAfterSeconds"} answers 204. Both need `Authorization: Bearer <run token>`.
 */
import { chmod, mkdir, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import path from 'node:path';
import { oneLine } from '../errors.js';
import type { QuotaDeclaration } from '../shared/types.js';
import type { BudgetClient } from './budget-client.js';
import { GRANT_LIFETIME_MS, type SettledGrant } from './window.js';

/** What the agent knows of a run: which quotas it may draw from. */
export interface RunQuotas {
  experiment: string;
  quotas: Record<string, QuotaDeclaration>;
}

/** From handing a grant to a waiting call to that call reaching the API: what a grant's lifetime keeps for it. */
const HAND_OUT_MARGIN_MS = 150;
/** A grant answered later than this after the ask is dropped: its call would come too late (GRANT_LIFETIME_MS). */
const LATEST_HAND_OUT_MS = GRANT_LIFETIME_MS - HAND_OUT_MARGIN_MS;

/** Asks in flight per quota: enough to keep up with many waiting calls, few enough to waste little on a crash. */
export const MAX_ASKS_IN_FLIGHT = 4;
/** The budget answers with when to ask again; never wait longer than this before trying (a pause may end early). */
const MAX_RETRY_WAIT_MS = 5_000;
const MAX_BODY_BYTES = 4_096;
/** A run that ends this long after its refused call's pause (Retry-After) failed on its own, not for the refusal. */
export const REFUSED_END_MS = 60_000;

/**
 * All asks in flight together take at most 1% of the limit (at least one call each): a worker that dies
 * holding them wastes at most 1% of a window, or MAX_ASKS_IN_FLIGHT calls under a limit below 400.
 */
export function maxAsk(declaration: QuotaDeclaration): number {
  return Math.max(1, Math.floor(declaration.limit / (100 * MAX_ASKS_IN_FLIGHT)));
}

interface LastRefusal {
  at: number;
  retryAfterMs?: number;
}

interface Waiter {
  remaining: number;
  granted: () => void;
}

/** The calls waiting for one quota on this worker, and the asks for them. */
class QuotaLine {
  private readonly waiting: Waiter[] = [];
  private asked = 0;
  private asksInFlight = 0;
  private notBefore = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Grants that reached this agent, to settle with the next ask (each once: a lost ask loses only narrowing). */
  private settled: SettledGrant[] = [];
  /** Grants that arrived when no call was waiting any more (its script was stopped meanwhile), or too late. */
  wasted = 0;
  /** Answers dropped because they took too long to arrive. */
  late = 0;

  constructor(
    private readonly name: string,
    private declaration: QuotaDeclaration,
    private readonly budgets: BudgetClient,
    private readonly log: (line: string) => void,
  ) {}

  /** Resolves once `calls` are granted; `abandon` takes the request back (its script went away). */
  take(calls: number, declaration: QuotaDeclaration): { granted: Promise<void>; abandon: () => void } {
    this.declaration = declaration;
    let waiter!: Waiter;
    const granted = new Promise<void>((resolve) => {
      waiter = { remaining: calls, granted: resolve };
    });
    this.waiting.push(waiter);
    this.pump();
    const abandon = () => {
      const index = this.waiting.indexOf(waiter);
      if (index < 0) return;
      this.waiting.splice(index, 1);
      waiter.granted(); // nobody is left to answer: the request just ends
    };
    return { granted, abandon };
  }

  pauseFor(ms: number): void {
    this.notBefore = Math.max(this.notBefore, Date.now() + ms);
  }

  private unasked(): number {
    return this.waiting.reduce((sum, waiter) => sum + waiter.remaining, 0) - this.asked;
  }

  private pump(): void {
    const now = Date.now();
    if (now < this.notBefore) {
      if (this.unasked() > 0 && !this.timer) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, this.notBefore - now);
      }
      return;
    }
    while (this.asksInFlight < MAX_ASKS_IN_FLIGHT && this.unasked() > 0) {
      const calls = Math.min(this.unasked(), maxAsk(this.declaration));
      this.asked += calls;
      this.asksInFlight++;
      void this.ask(calls); // settles itself: errors are logged and asked again
    }
  }

  private async ask(calls: number): Promise<void> {
    try {
      const askedAt = performance.now();
      const settled = this.settled.splice(0);
      const grant = await this.budgets.grant(this.name, this.declaration, calls, settled);
      const answeredInMs = performance.now() - askedAt;
      let used = 0;
      if (answeredInMs > LATEST_HAND_OUT_MS) {
        // The budget may have dated it up to this long ago: a call made now could fall outside its window.
        this.wasted += grant.granted;
        this.late++;
      } else {
        used = this.handOut(grant.granted);
      }
      // The budget dated the grant after this ask left, so its calls come at most this long after that date.
      const withinMs = Math.ceil(answeredInMs) + HAND_OUT_MARGIN_MS;
      if (grant.id !== undefined && grant.at !== undefined)
        this.settled.push({ id: grant.id, at: grant.at, used, withinMs });
      if (grant.retryAt !== undefined) {
        this.notBefore = Math.max(this.notBefore, Date.now() + Math.min(MAX_RETRY_WAIT_MS, grant.retryAt - Date.now()));
      }
    } catch (err) {
      this.log(`quota ${this.name}: the budget did not answer (${oneLine(err)}); asking again in 1s`);
      this.notBefore = Math.max(this.notBefore, Date.now() + 1_000);
    } finally {
      this.asked -= calls;
      this.asksInFlight--;
      this.pump();
    }
  }

  /** Gives the calls to the waiting calls, oldest first, at once; returns how many were given. */
  private handOut(granted: number): number {
    let left = granted;
    while (left > 0 && this.waiting.length) {
      const waiter = this.waiting[0];
      const given = Math.min(left, waiter.remaining);
      waiter.remaining -= given;
      left -= given;
      if (waiter.remaining === 0) {
        this.waiting.shift();
        waiter.granted();
      }
    }
    this.wasted += left;
    return granted - left;
  }

  close(): void {
    clearTimeout(this.timer);
  }
}

class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class QuotaAgent {
  private readonly runs = new Map<string, RunQuotas>();
  private readonly lines = new Map<string, QuotaLine>();
  /** Calls granted to each run by quota, by token, since this worker holds it. */
  private readonly granted = new Map<string, Record<string, number>>();
  /** Each run's last reported 429, by token: kept while the run is held, dropped once a call is granted after it. */
  private readonly refusals = new Map<string, LastRefusal>();
  private server: Server | undefined;

  constructor(
    private readonly budgets: BudgetClient,
    readonly socketPath: string,
    /** Finds a run this worker does not hold (another worker here holds it, or none yet) by its token. */
    private readonly findRun: (token: string) => Promise<RunQuotas | undefined> = () => Promise.resolve(undefined),
    private readonly log: (line: string) => void = (line) => console.log(`staged worker: ${line}`),
  ) {}

  register(token: string, run: RunQuotas): void {
    this.runs.set(token, run);
  }

  unregister(token: string): void {
    this.runs.delete(token);
    this.granted.delete(token);
    this.refusals.delete(token);
  }

  /** Calls granted to the run by quota since this worker holds it; undefined before its first. */
  callsOf(token: string): Record<string, number> | undefined {
    const calls = this.granted.get(token);
    return calls && { ...calls };
  }

  /**
   * Whether a refused call ended the run (asked once, when it has ended at `endedAt`): its last quota event was a
   * reported 429 (no call granted to it since) and it ended within REFUSED_END_MS after that 429's Retry-After.
   * A run that got calls again after a 429, or went on long after it, failed on its own.
   */
  takeRateLimited(token: string, endedAt = Date.now()): { retryAfterMs?: number } | undefined {
    const refusal = this.refusals.get(token);
    this.refusals.delete(token);
    if (!refusal || endedAt > refusal.at + (refusal.retryAfterMs ?? 0) + REFUSED_END_MS) return undefined;
    return refusal.retryAfterMs === undefined ? {} : { retryAfterMs: refusal.retryAfterMs };
  }

  /** Grants that reached this worker after their call had gone (its script stopped), per quota. */
  wasted(): Record<string, number> {
    return Object.fromEntries([...this.lines].map(([name, line]) => [name, line.wasted]));
  }

  async listen(): Promise<void> {
    await mkdir(path.dirname(this.socketPath), { recursive: true });
    await rm(this.socketPath, { force: true }); // left by a worker that died: runs reconnect to the new one
    const server = createServer((request, response) => void this.serve(request, response));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, resolve);
    });
    await chmod(this.socketPath, 0o600);
    this.server = server;
  }

  async close(): Promise<void> {
    for (const line of this.lines.values()) line.close();
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    try {
      const run = await this.runOf(request);
      const body = await readJson(request);
      const quota = typeof body.quota === 'string' ? body.quota : '';
      const declaration = run.quotas[quota];
      if (!declaration) {
        const declared = Object.keys(run.quotas).join(', ') || 'none';
        throw new RequestError(
          403,
          `${run.experiment} does not use quota "${quota}" (its Quota: line names ${declared})`,
        );
      }
      if (request.method === 'POST' && request.url === '/acquire') {
        const calls = body.calls ?? 1;
        if (typeof calls !== 'number' || !Number.isInteger(calls) || calls < 1 || calls > declaration.limit) {
          throw new RequestError(400, `calls must be an integer from 1 to the limit, ${declaration.limit}`);
        }
        await this.acquire(quota, declaration, calls, response);
        if (!response.destroyed) this.count(bearer(request)!, quota, calls);
        reply(response, 200, { granted: calls });
      } else if (request.method === 'POST' && request.url === '/rate-limited') {
        const seconds = body.retryAfterSeconds;
        const retryAfterMs = typeof seconds === 'number' && seconds >= 0 ? seconds * 1000 : undefined;
        this.lineOf(quota, declaration).pauseFor(retryAfterMs ?? 1_000);
        this.refusals.set(bearer(request)!, { at: Date.now(), retryAfterMs });
        await this.budgets.reportRateLimited(quota, retryAfterMs);
        reply(response, 204);
      } else {
        throw new RequestError(404, 'use POST /acquire or POST /rate-limited');
      }
    } catch (err) {
      if (err instanceof RequestError) reply(response, err.status, { error: err.message });
      else reply(response, 500, { error: oneLine(err) });
    }
  }

  private count(token: string, quota: string, calls: number): void {
    this.refusals.delete(token); // the run got calls again after its 429: a later failure is its own
    const counts = this.granted.get(token) ?? {};
    counts[quota] = (counts[quota] ?? 0) + calls;
    this.granted.set(token, counts);
  }

  private async runOf(request: IncomingMessage): Promise<RunQuotas> {
    const token = bearer(request);
    const run = token === undefined ? undefined : (this.runs.get(token) ?? (await this.findRun(token)));
    if (!run) throw new RequestError(401, 'unknown run token: STAGED_QUOTA_TOKEN is set for each run by its worker');
    return run;
  }

  private lineOf(quota: string, declaration: QuotaDeclaration): QuotaLine {
    let line = this.lines.get(quota);
    if (!line) {
      line = new QuotaLine(quota, declaration, this.budgets, this.log);
      this.lines.set(quota, line);
    }
    return line;
  }

  /** Waits for the grant; a script that hangs up meanwhile takes its request back. */
  private async acquire(quota: string, declaration: QuotaDeclaration, calls: number, response: ServerResponse) {
    const { granted, abandon } = this.lineOf(quota, declaration).take(calls, declaration);
    response.once('close', abandon);
    await granted;
    response.off('close', abandon);
  }
}

function bearer(request: IncomingMessage): string | undefined {
  return /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
}

async function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of request) {
    text += String(chunk);
    if (text.length > MAX_BODY_BYTES) throw new RequestError(413, 'request body too large');
  }
  try {
    const value: unknown = JSON.parse(text || '{}');
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new RequestError(400, 'the body must be a JSON object');
}

function reply(response: ServerResponse, status: number, body?: object): void {
  if (response.writableEnded || response.destroyed) return;
  response.writeHead(status, body ? { 'content-type': 'application/json' } : {});
  response.end(body ? JSON.stringify(body) : undefined);
}
