/**
 * Quotas as people write them: a limit `2000/1h`, hosts `host` or `host:port`, and in a docstring the lines
 * `Quota:`, `Calls:` and `Metering:`.
 */
import { isIPv6 } from 'node:net';
import { DocstringLineError } from '../errors.js';
import { parseDuration } from '../parse/duration.js';
import { parseInteger } from '../parse/integer.js';

const QUOTA_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const HOST =
  /^(?=.{1,253}(:|$))[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:\d{1,5})?$/;
const QUOTA_LINE = /^[\s#*-]*quota\s*:\s*(.*?)\s*$/im;
const CALLS_LINE = /^[\s#*-]*calls\s*:\s*(.*?)\s*$/im;
const METERING_LINE = /^[\s#*-]*metering\s*:\s*(.*?)\s*$/im;
const METERING_MODES = ['auto', 'manual'] as const;

export function isQuotaName(name: string): boolean {
  return QUOTA_NAME.test(name);
}

/** `N/<duration>`: at most N calls in any window of that length. Throws a message that reads after the field's name. */
export function parseLimit(text: string): { limit: number; windowMs: number } {
  const match = /^\s*([^/\s]+)\s*\/\s*(\S+)\s*$/.exec(text);
  if (!match) throw new Error(`"${text}" is not a limit: write calls/duration, e.g. 2000/1h or 100/5s`);
  return { limit: parseInteger(match[1], { min: 1 }), windowMs: parseDuration(match[2]) };
}

/** `host` or `host:port` (an IPv6 address in brackets: `[::1]:8080`), as requests name them; lower-cased. */
export function parseHost(text: string): string {
  const port = /:(\d+)$/.exec(text)?.[1];
  const ipv6 = /^\[([^\]]+)\](:\d{1,5})?$/.exec(text);
  const named = ipv6 ? isIPv6(ipv6[1]) : HOST.test(text);
  if (!named || (port !== undefined && (Number(port) < 1 || Number(port) > 65_535))) {
    const hint = isIPv6(text) ? ': write an IPv6 address in brackets, e.g. [::1] or [::1]:8080' : '';
    throw new Error(`"${text}" is not a host or host:port${hint}`);
  }
  return text.toLowerCase();
}

/** The host as Python's metering looks it up: an IPv6 address without its brackets (`::1:8080`). */
export function hostKey(host: string): string {
  return host.replace(/^\[([^\]]+)\]/, '$1');
}

interface QuotaUse {
  quotas: string[];
  /** The calls the experiment expects to make (`Calls:` line), for planning. */
  calls?: number;
  /** `Metering: manual`: only its explicit acquire calls are metered; absent: its HTTP calls are, automatically. */
  metering?: 'manual';
}

/** The `Quota:`, `Calls:` and `Metering:` lines of an experiment's describing text; throws on a malformed one. */
export function quotaUseOf(text: string): QuotaUse {
  const quotaLine = QUOTA_LINE.exec(text);
  const callsLine = CALLS_LINE.exec(text);
  const quotas = quotaLine ? quotaLine[1].split(',').map((name) => name.trim()) : [];
  const bad = quotas.filter((name) => !isQuotaName(name));
  if (quotaLine && (!quotas.length || bad.length)) {
    throw new DocstringLineError(`malformed line "${quotaLine[0].trim()}": give quota names, comma-separated`);
  }
  const use: QuotaUse = { quotas: [...new Set(quotas)] };
  if (callsLine) {
    try {
      use.calls = parseInteger(callsLine[1].replace(/[_,]/g, ''), { min: 0 });
    } catch (err) {
      throw new DocstringLineError(`malformed line "${callsLine[0].trim()}": ${(err as Error).message}`);
    }
  }
  const meteringLine = METERING_LINE.exec(text);
  if (meteringLine) {
    const mode = meteringLine[1].toLowerCase();
    if (!(METERING_MODES as readonly string[]).includes(mode)) {
      throw new DocstringLineError(`malformed line "${meteringLine[0].trim()}": write Metering: manual (or auto)`);
    }
    if (!use.quotas.length) {
      throw new DocstringLineError(`"${meteringLine[0].trim()}" without a Quota: line: name the quotas it uses`);
    }
    if (mode === 'manual') use.metering = 'manual';
  }
  return use;
}
