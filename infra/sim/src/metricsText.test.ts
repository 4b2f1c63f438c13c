import { describe, expect, it } from 'vitest';
import { formatG, promCounter, promGauge, pyFloat } from './metricsText.js';

describe('llama.cpp number formatting (%g)', () => {
  it.each([
    [0, '0'],
    [17403, '17403'],
    [13.34641, '13.3464'],
    [0.0895341, '0.0895341'],
    [1303.954, '1303.95'],
    [999999, '999999'],
    [1234567, '1.23457e+06'],
    [999999.7, '1e+06'],
    [0.00001234, '1.234e-05'],
  ])('%d prints as %s', (x, text) => expect(formatG(x)).toBe(text));
});

describe('prometheus_client formatting', () => {
  it('prints Python float reprs with Go-style exponents', () => {
    expect(pyFloat(0)).toBe('0.0');
    expect(pyFloat(7)).toBe('7.0');
    expect(pyFloat(0.83)).toBe('0.83');
    expect(pyFloat(1767225600)).toBe('1.7672256e+09');
    expect(pyFloat(1767225600.5)).toBe('1.7672256005e+09');
  });

  it('sorts labels and splits a counter into _total and _created', () => {
    expect(promGauge('g', 'help', { model_name: 'm', engine: '0' }, 2)).toBe(
      '# HELP g help\n# TYPE g gauge\ng{engine="0",model_name="m"} 2.0\n',
    );
    expect(promCounter('c', 'h', {}, 3, 1700000000)).toBe(
      '# HELP c_total h\n# TYPE c_total counter\nc_total 3.0\n# HELP c_created h\n# TYPE c_created gauge\nc_created 1.7e+09\n',
    );
  });
});
