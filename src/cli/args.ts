// Option parsers: a bad value is refused by commander with the flag's name (exit 2), never turned into NaN.
import { InvalidArgumentError } from 'commander';

/** An integer ≥ `min` (default 1). */
export function integer(min = 1): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer ≥ ${min}, got "${value}"`);
    return n;
  };
}

/** A finite number. */
export function finiteNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got "${value}"`);
  return n;
}
