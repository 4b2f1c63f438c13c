import { describe, expect, it } from 'vitest';
import { duration, table } from './format.js';

describe('table', () => {
  it('pads text left and numbers right, one line per row', () => {
    expect(table(['MODEL', 'WAITING'], [['a', 3], ['longer-model', 12]])).toBe(
      'MODEL         WAITING\na                   3\nlonger-model       12\n',
    );
  });

  it('prints only the header for no rows', () => {
    expect(table(['ID', 'STATE'], [])).toBe('ID  STATE\n');
  });
});

describe('duration', () => {
  it.each([
    [null, '-'],
    [850, '850ms'],
    [4_200, '4.2s'],
    [185_000, '3m05s'],
    [7_620_000, '2h07m'],
    [273_600_000, '3d04h'],
  ])('%s ms reads %s', (ms, text) => {
    expect(duration(ms)).toBe(text);
  });
});
