/**
 * Placeholder for a side effect a machine names but does not implement;
 * `actors/` provides the real one with `machine.provide(...)`, tests a fake.
 */
export function notProvided(name: string): never {
  throw new Error(`${name} is not provided: supply it with machine.provide()`);
}
