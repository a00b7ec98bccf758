/**
 * A worker's quota agent. The runs on this machine ask it for calls over a UNIX socket (HTTP, a
 * per-run secret; nothing listens on the network); it asks the quota's budget workflow for them,
 * a few calls at a time, and hands each grant to a call that is waiting, at once.
 * Protocol: POST /acquire {"quota", "calls"} answers 200 once granted; POST /rate-limited
 * {"quota", "retryAfterSeconds"} answers 204. Both need `Authorization: Bearer <run token>`.
 */
import { chmod, mkdir, readdir, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import path from 'node:path';
import { oneLine } from '../errors.js';
import type { RunQuota } from '../keeper/run-files.js';
import { NoBudgetError, type BudgetClient } from './budget-client.js';
import { agentSocketPath, runSocketPath } from './run-environment.js';
import { linkTarget, pointLink, socketAnswers } from './run-links.js';
import { GRANT_LIFETIME_MS, type Declaration, type SettledGrant } from '../budget/window.js';

/** From handing a grant to a waiting call to that call reaching the API: what a grant's lifetime keeps for it. */
const HAND_OUT_MARGIN_MS = 150;
/** A grant answered later than this after the ask is dropped: its call would come too late (GRANT_LIFETIME_MS). */
const LATEST_HAND_OUT_MS = GRANT_LIFETIME_MS - HAND_OUT_MARGIN_MS;

/** Asks in flight per quota: enough to keep up with many waiting calls, few enough to waste little on a crash. */
export const MAX_ASKS_IN_FLIGHT = 4;
/** The budget answers with when to ask again; never wait longer than this before trying (a pause may end early). */
const MAX_RETRY_WAIT_MS = 5_000;
/** A quota without a budget (terminated by hand) is asked again this often: a submit using it starts one. */
const NO_BUDGET_WAIT_MS = 5_000;
const MAX_BODY_BYTES = 4_096;
/** A run that ends this long after its refused call's pause (Retry-After) failed on its own, not for the refusal. */
const REFUSED_END_MS = 60_000;

/**
 * Calls in flight must cover an ask's round trip at the limit's rate (Little's law), or a per-second limit is never
 * reached: 4 asks of 1 call each made at most 40-150 calls/s.
 */
const ASK_ROUND_TRIP_MS = 100;

/**
 * All asks in flight together take at most 1% of the limit or the calls the limit allows in ASK_ROUND_TRIP_MS,
 * whichever is more (at least one call each): a worker that dies holding them wastes at most that much of a window,
 * or MAX_ASKS_IN_FLIGHT calls under a small limit.
 */
export function maxAsk(declaration: Pick<Declaration, 'limit' | 'windowMs'>): number {
  const onePercent = declaration.limit / 100;
  const oneRoundTrip = (declaration.limit * ASK_ROUND_TRIP_MS) / declaration.windowMs;
  return Math.max(1, Math.floor(Math.max(onePercent, oneRoundTrip) / MAX_ASKS_IN_FLIGHT));
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

  /** The calls of one ask (maxAsk of the budget's declaration); 1 until the budget has said it. */
  private askSize = 1;

  constructor(
    private readonly name: string,
    private readonly budgets: BudgetClient,
    private readonly log: (line: string) => void,
  ) {}

  /** Resolves once `calls` are granted; `abandon` takes the request back (its script went away). */
  take(calls: number, askSize: number): { granted: Promise<void>; abandon: () => void } {
    this.askSize = askSize;
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
      const calls = Math.min(this.unasked(), this.askSize);
      this.asked += calls;
      this.asksInFlight++;
      void this.ask(calls); // settles itself: errors are logged and asked again
    }
  }

  private async ask(calls: number): Promise<void> {
    try {
      const askedAt = performance.now();
      const settled = this.settled.splice(0);
      const grant = await this.budgets.grant(this.name, calls, settled);
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
      const waitMs = err instanceof NoBudgetError ? NO_BUDGET_WAIT_MS : 1_000;
      this.log(`quota ${this.name}: the budget did not answer (${oneLine(err)}); asking again in ${waitMs / 1000}s`);
      this.notBefore = Math.max(this.notBefore, Date.now() + waitMs);
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

/** What the agent knows of a run it serves: its token, the quotas it names, the link its scripts connect to. */
export type ServedRun = RunQuota;

/** The runs kept on this machine, as the agent tends those nobody holds (machine-runs.ts). */
export interface MachineRunsView {
  /** The run keys of the runs directory. */
  runKeys(): Promise<string[]>;
  /** The quota part of a run's spec while its keeper still runs it; undefined once it ended. */
  liveRun(runKey: string): Promise<ServedRun | undefined>;
  /** A live run found by its token. */
  findRun(token: string): Promise<ServedRun | undefined>;
}

/** How often the agent repairs its runs' links and tends the runs of a worker that is gone. */
const TEND_EVERY_MS = 1_000;

export class QuotaAgent {
  /** Runs an activity of this worker holds, by token. */
  private readonly runs = new Map<string, ServedRun>();
  /** Runs whose worker is gone, served here until some worker adopts them (their link points here), by token. */
  private readonly tended = new Map<string, ServedRun>();
  private readonly lines = new Map<string, QuotaLine>();
  /** Calls granted to each run by quota, by token, since this worker holds (or tends) it. */
  private readonly granted = new Map<string, Record<string, number>>();
  /** Each run's last reported 429, by token: kept while the run is held, dropped once a call is granted after it. */
  private readonly refusals = new Map<string, LastRefusal>();
  /** Requests waiting for a grant, by token: dropped when the run is let go, so they ask its next holder. */
  private readonly waiting = new Map<string, Set<ServerResponse>>();
  private server: Server | undefined;
  private tendTimer: NodeJS.Timeout | undefined;
  private tending: Promise<void> = Promise.resolve();
  /** Run keys without a link, by whether they are live runs started before links. */
  private readonly legacyRuns = new Map<string, boolean>();
  /** This worker's own socket. */
  readonly socketPath: string;

  constructor(
    private readonly budgets: BudgetClient,
    /** Where this runs directory's sockets and run links live (run-environment.ts quotaDirOf). */
    readonly quotaDir: string,
    private readonly machine: MachineRunsView = {
      runKeys: () => Promise.resolve([]),
      liveRun: () => Promise.resolve(undefined),
      findRun: () => Promise.resolve(undefined),
    },
    private readonly log: (line: string) => void = (line) => console.log(`staged worker: ${line}`),
    /** Where runs started before per-worker sockets connect; served here when no older worker still does. */
    private readonly legacySocket?: string,
  ) {
    this.socketPath = agentSocketPath(quotaDir);
  }

  /** The link a new run's scripts connect to (STAGED_QUOTA_SOCKET). */
  runSocket(runKey: string): string {
    return runSocketPath(this.quotaDir, runKey);
  }

  /** This worker holds the run: its link points here from now on (before its script can ask, for a new run). */
  async register(run: ServedRun): Promise<void> {
    this.runs.set(run.token, run);
    this.tended.delete(run.token);
    if (!run.socket || (await linkTarget(run.socket)) === this.socketPath) return;
    // Not fatal to the run: its script waits, and the next pass of tend() points the link here.
    await pointLink(run.socket, this.socketPath).catch((err) =>
      this.log(`quota: could not point ${run.socket} at this worker (${oneLine(err)})`),
    );
  }

  unregister(token: string): void {
    this.runs.delete(token);
    this.granted.delete(token);
    this.refusals.delete(token);
    // A run let go of lives on: its waiting calls hang up and ask again where its link points next.
    for (const response of this.waiting.get(token) ?? []) response.destroy();
    this.waiting.delete(token);
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
    await mkdir(this.quotaDir, { recursive: true, mode: 0o700 });
    const server = createServer((request, response) => void this.serve(request, response));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, resolve);
    });
    await chmod(this.socketPath, 0o600);
    this.server = server;
    await this.sweepDeadSockets();
    await this.tend();
    this.tendTimer = setInterval(() => void this.tend(), TEND_EVERY_MS);
    this.tendTimer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.tendTimer);
    for (const line of this.lines.values()) line.close();
    const server = this.server;
    if (!server) return;
    await this.tending;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve())); // unlinks this worker's socket only
  }

  /** Sockets of workers that died (SIGKILL) and stale temporary links: nobody listens on them any more. */
  private async sweepDeadSockets(): Promise<void> {
    for (const name of await readdir(this.quotaDir).catch(() => [] as string[])) {
      const file = path.join(this.quotaDir, name);
      if (name.endsWith('.tmp') || (name.startsWith('w-') && file !== this.socketPath && !(await socketAnswers(file))))
        await rm(file, { force: true });
    }
  }

  /** Runs started before links (by an older staged) ask the shared legacy path: served here when nobody answers. */
  private async serveLegacySocket(): Promise<void> {
    const legacy = this.legacySocket;
    if (!legacy || (await linkTarget(legacy)) === this.socketPath || (await socketAnswers(legacy))) return;
    await pointLink(legacy, this.socketPath).catch(() => undefined);
  }

  /** Whether a run without a link is a live run started before links (asked once per run). */
  private async isLegacyRun(runKey: string): Promise<boolean> {
    let legacy = this.legacyRuns.get(runKey);
    if (legacy === undefined) {
      const run = await this.machine.liveRun(runKey);
      legacy = run !== undefined && run.socket === undefined;
      this.legacyRuns.set(runKey, legacy);
    }
    return legacy;
  }

  /** One pass at a time: repairs the links of held runs, tends runs whose worker is gone, drops ended runs' links. */
  private tend(): Promise<void> {
    this.tending = this.tending.then(() =>
      this.tendOnce().catch((err) => this.log(`quota: could not tend the run links (${oneLine(err)})`)),
    );
    return this.tending;
  }

  private async tendOnce(): Promise<void> {
    // Listed before the run keys: a link made after this (a new run's) has its run key among them, so it stays.
    const namesBefore = await readdir(this.quotaDir).catch(() => [] as string[]);
    const links = new Map<string, string>();
    for (const runKey of await this.machine.runKeys()) links.set(this.runSocket(runKey), runKey);
    const heldLinks = new Set([...this.runs.values()].flatMap((run) => (run.socket ? [run.socket] : [])));
    const answers = new Map<string, Promise<boolean>>();
    let legacyRunsLive = false;
    const alive = (socket: string) => {
      if (socket === this.socketPath) return Promise.resolve(true);
      if (!answers.has(socket)) answers.set(socket, socketAnswers(socket));
      return answers.get(socket)!;
    };
    for (const { socket } of this.runs.values()) {
      if (socket && (await linkTarget(socket)) !== this.socketPath) await pointLink(socket, this.socketPath);
    }
    for (const [link, runKey] of links) {
      if (heldLinks.has(link)) continue;
      const target = await linkTarget(link);
      if (target === undefined && (await this.isLegacyRun(runKey))) legacyRunsLive = true;
      if (target === this.socketPath) {
        await this.tendLetGo(runKey);
        continue;
      }
      if (target === undefined || (await alive(target))) continue;
      const run = await this.machine.liveRun(runKey);
      if (!run) await rm(link, { force: true }); // an ended run: no script of it asks any more
      if (!run || this.runs.has(run.token)) continue;
      this.tended.set(run.token, run);
      await pointLink(link, this.socketPath);
      if (usesQuotas(run))
        this.log(`quota: serving the calls of run ${runKey} until a worker adopts it (its worker is gone)`);
    }
    for (const [token, run] of this.tended) {
      if (run.socket && (await linkTarget(run.socket)) === this.socketPath) continue;
      this.tended.delete(token); // adopted by another worker, or ended
      this.granted.delete(token);
      this.refusals.delete(token);
    }
    if (legacyRunsLive) await this.serveLegacySocket();
    const runKeys = new Set(links.values());
    for (const runKey of this.legacyRuns.keys()) if (!runKeys.has(runKey)) this.legacyRuns.delete(runKey);
    for (const name of namesBefore) {
      const file = path.join(this.quotaDir, name);
      if (name.startsWith('r-') && name.endsWith('.sock') && !links.has(file)) await rm(file, { force: true });
    }
  }

  /** A live run this worker let go of (its activity ended, the run waits to be adopted): served here meanwhile. */
  private async tendLetGo(runKey: string): Promise<void> {
    const run = await this.machine.liveRun(runKey);
    if (!run || this.runs.has(run.token) || this.tended.has(run.token)) return;
    this.tended.set(run.token, run);
    if (usesQuotas(run))
      this.log(`quota: serving the calls of run ${runKey} until a worker adopts it (this worker let it go)`);
  }

  private async serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    try {
      const { token, run } = await this.runOf(request);
      const body = await readJson(request);
      const quota = typeof body.quota === 'string' ? body.quota : '';
      if (!run.quotas.includes(quota)) {
        const declared = run.quotas.join(', ') || 'none';
        throw new RequestError(
          403,
          `${run.experiment} does not use quota "${quota}" (its Quota: line names ${declared})`,
        );
      }
      if (request.method === 'POST' && request.url === '/acquire') {
        const calls = body.calls ?? 1;
        // The budget's own declaration, not the run's: a limit changed by a later submit applies to running batches.
        const declared = await this.budgets.declared(quota).catch(() => undefined);
        const limit = declared?.limit ?? Number.MAX_SAFE_INTEGER;
        if (typeof calls !== 'number' || !Number.isInteger(calls) || calls < 1 || calls > limit) {
          throw new RequestError(
            400,
            `calls must be an integer from 1 to the limit${declared ? `, ${declared.limit}` : ''}`,
          );
        }
        await this.acquire(token, quota, declared ? maxAsk(declared) : 1, calls, response);
        if (!response.destroyed) this.count(token, quota, calls);
        reply(response, 200, { granted: calls });
      } else if (request.method === 'POST' && request.url === '/rate-limited') {
        const seconds = body.retryAfterSeconds;
        const retryAfterMs = typeof seconds === 'number' && seconds >= 0 ? seconds * 1000 : undefined;
        this.lineOf(quota).pauseFor(retryAfterMs ?? 1_000);
        this.refusals.set(token, { at: Date.now(), retryAfterMs });
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

  /**
   * The run of the request's token, held or tended here. A live run of this machine that another worker holds (a
   * request that raced its link being repointed) is told to ask again: 503, which the clients retry.
   */
  private async runOf(request: IncomingMessage): Promise<{ token: string; run: ServedRun }> {
    const token = bearer(request);
    const known = token === undefined ? undefined : (this.runs.get(token) ?? this.tended.get(token));
    if (known) return { token: token!, run: known };
    const found = token === undefined ? undefined : await this.machine.findRun(token);
    if (!found) throw new RequestError(401, 'unknown run token: STAGED_QUOTA_TOKEN is set for each run by its worker');
    // Its link still points here (this worker let it go; nobody adopted it yet): served here until one does.
    if (found.socket && (await linkTarget(found.socket)) !== this.socketPath) {
      throw new RequestError(503, 'this run is held by another worker right now; ask again');
    }
    const held = this.runs.get(found.token); // registered meanwhile
    if (held) return { token: found.token, run: held };
    this.tended.set(found.token, found); // or started before links: it asks on the legacy path, served here
    return { token: found.token, run: found };
  }

  private lineOf(quota: string): QuotaLine {
    let line = this.lines.get(quota);
    if (!line) {
      line = new QuotaLine(quota, this.budgets, this.log);
      this.lines.set(quota, line);
    }
    return line;
  }

  /** Waits for the grant; a script that hangs up meanwhile (or a run let go of) takes its request back. */
  private async acquire(token: string, quota: string, askSize: number, calls: number, response: ServerResponse) {
    const { granted, abandon } = this.lineOf(quota).take(calls, askSize);
    const waiting = this.waiting.get(token) ?? new Set<ServerResponse>();
    this.waiting.set(token, waiting.add(response));
    response.once('close', abandon);
    try {
      await granted;
    } finally {
      response.off('close', abandon);
      waiting.delete(response);
      if (!waiting.size && this.waiting.get(token) === waiting) this.waiting.delete(token);
    }
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

/** Every run has a link and a token; only one that draws from a quota is worth a line in the worker's log. */
function usesQuotas(run: ServedRun): boolean {
  return run.quotas.length > 0;
}
