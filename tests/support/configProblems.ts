import { expect } from 'vitest';
import { ConfigError } from '@infergate/shared';

/** The problems a ConfigError thrown by `fn` names; fails the test if `fn` throws nothing or something else. */
export function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}
