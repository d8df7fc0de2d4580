// Numeric options are range-checked in one place (lib/numericOption.ts) against ranges written once
// (lib/optionRanges.ts, loss descriptors): fit(), loadModel, evaluate and the CLI refuse the same values
// with the same words.
import { describe, expect, it } from 'vitest';
import { parseArgs } from 'node:util';
import { numberOption, UsageError } from '../lib/cli/command.js';
import { fit } from '../lib/fit.js';
import { LOSSES, type LossOptionSpec } from '../lib/losses/index.js';
import { checkNumber, describeRange, isInRange, type NumberRange } from '../lib/numericOption.js';
import { OPTION_RANGES } from '../lib/optionRanges.js';

/** Values just inside and just outside a range, and the values every range refuses. */
function probes(range: NumberRange): { inside: number[]; outside: unknown[] } {
  const inside: number[] = [];
  const outside: unknown[] = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, '1', null, true];
  const step = range.integer ? 1 : 1e-9;
  if (range.min !== undefined) {
    inside.push(range.minExclusive ? range.min + step : range.min);
    outside.push(range.minExclusive ? range.min : range.min - step);
  }
  if (range.max !== undefined) {
    inside.push(range.maxExclusive ? range.max - step : range.max);
    outside.push(range.maxExclusive ? range.max : range.max + step);
  }
  if (range.integer) outside.push((inside[0] ?? 0) + 0.5, 2 ** 53);
  if (inside.length === 0) inside.push(0);
  return { inside, outside };
}

const cli = (flag: string, text: string) => parseArgs({ args: [`--${flag}=${text}`], options: { [flag]: { type: 'string' } }, strict: true });
const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

describe('numeric options, checked in one place', () => {
  it('describes a range in the words every message uses', () => {
    expect(describeRange({ integer: true, min: 1 })).toBe('a positive integer');
    expect(describeRange({ integer: true, min: 0 })).toBe('an integer >= 0');
    expect(describeRange({ integer: true })).toBe('an integer');
    expect(describeRange({ min: 0, minExclusive: true })).toBe('a positive number');
    expect(describeRange({ min: 0, max: 1, maxExclusive: true })).toBe('a number in [0, 1)');
    expect(describeRange({ integer: true, min: 1, max: 4096 })).toBe('an integer in [1, 4096]');
    expect(() => checkNumber(Number.NaN, 'margin', { min: 0 })).toThrow("option 'margin' must be a number >= 0, got NaN");
    expect(() => checkNumber(undefined, 'k', { integer: true, min: 1 })).toThrow("option 'k' must be a positive integer, got undefined");
  });

  it('the library and the CLI accept and refuse the same values of every option in the table', () => {
    for (const [name, range] of Object.entries(OPTION_RANGES) as [string, NumberRange][]) {
      const { inside, outside } = probes(range);
      for (const value of inside) {
        expect(checkNumber(value, name, range), `${name} = ${value}`).toBe(value);
        expect(numberOption(cli(kebab(name), String(value)), kebab(name), range), `--${kebab(name)} ${value}`).toBe(value);
      }
      for (const value of outside) {
        expect(() => checkNumber(value, name, range), `${name} = ${String(value)}`).toThrow(`option '${name}' must be ${describeRange(range)}`);
        if (typeof value === 'number' && Number.isFinite(value)) {
          expect(() => numberOption(cli(kebab(name), String(value)), kebab(name), range)).toThrow(UsageError);
        }
      }
    }
  });

  it('fit() refuses each out-of-range option before it reads any data or model', async () => {
    const fitNumbers = ['learningRate', 'warmupSteps', 'warmupRatio', 'restarts', 'power', 'endLearningRate', 'weightDecay', 'momentum', 'epochs', 'batchSize', 'numItemsPerClass', 'wiseFt', 'seed'] as const;
    for (const name of fitNumbers) {
      const range: NumberRange = OPTION_RANGES[name];
      for (const value of probes(range).outside.filter((v) => typeof v === 'number')) {
        // SGD takes every option of the list (momentum included).
        await expect(fit({ model: '/nonexistent', trainData: '/nonexistent.csv', optimizer: 'sgd', [name]: value }), `${name} = ${String(value)}`).rejects.toThrow(
          `option '${name}' must be ${describeRange(range)}`,
        );
      }
    }
    await expect(fit({ model: '/nonexistent', trainData: '/x.csv', freeze: { trainableLayers: 1.5 } })).rejects.toThrow(
      "option 'freeze.trainableLayers' must be a positive integer, got 1.5",
    );
  });

  it("every loss option's range is checked by the same function as fit's", () => {
    for (const loss of LOSSES) {
      for (const option of loss.options as readonly LossOptionSpec[]) {
        if (option.kind !== 'number') continue;
        expect(isInRange(option.default, option), `${loss.name}.${option.name} default`).toBe(true);
        for (const value of probes(option).outside.filter((v) => typeof v === 'number')) {
          expect(() => checkNumber(value, option.name, option)).toThrow(`option '${option.name}' must be ${describeRange(option)}`);
        }
      }
    }
  });
});
