/** Whole numbers as people type them: decimal digits only (`0x2`, `1e3`, `2.0` and `" 3"` are refused). */

export interface IntegerLimits {
  min?: number;
  max?: number;
}

/** Throws a message that reads after the option's name: "must be an integer ≥ 1 (got "0")". */
export function parseInteger(text: string, { min = 0, max = Number.MAX_SAFE_INTEGER }: IntegerLimits = {}): number {
  const value = Number(text);
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    throw new Error(`must be an integer ${range} (got "${text}")`);
  }
  return value;
}
