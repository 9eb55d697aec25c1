import type { SeatLockStrategy, StrategyOptionSpec } from './ports.js';

export function intOption(name: string, description: string, def: number, min: number, max: number): StrategyOptionSpec {
  return {
    name,
    description,
    default: String(def),
    validate: (v) => (/^\d+$/.test(v) && Number(v) >= min && Number(v) <= max ? null : `${name} must be an integer from ${min} to ${max}`),
  };
}

/** Fills defaults and collects every problem (unknown keys, bad values), k6 style. */
export function resolveStrategyOptions(strategy: SeatLockStrategy, given: Record<string, string>): { options: Record<string, string>; problems: string[] } {
  const problems: string[] = [];
  const options: Record<string, string> = {};
  const known = new Map(strategy.options.map((o) => [o.name, o]));
  for (const key of Object.keys(given)) {
    if (!known.has(key)) {
      const valid = strategy.options.map((o) => o.name).join(', ') || '(none)';
      problems.push(`--strategy-opt ${key}: strategy "${strategy.name}" has no option "${key}"; valid options: ${valid}`);
    }
  }
  for (const spec of strategy.options) {
    const value = given[spec.name] ?? spec.default;
    const problem = spec.validate(value);
    if (problem) problems.push(`--strategy-opt ${spec.name}=${value}: ${problem}`);
    options[spec.name] = value;
  }
  return { options, problems };
}

export function enumOption(name: string, description: string, def: string, values: readonly string[]): StrategyOptionSpec {
  return {
    name,
    description,
    default: def,
    validate: (v) => (values.includes(v) ? null : `${name} must be one of ${values.join(', ')}`),
  };
}
