/** Time as a dependency, so tests can fix it where an outcome depends on it. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
