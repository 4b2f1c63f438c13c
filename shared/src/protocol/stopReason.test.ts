import { describe, expect, it } from 'vitest';
import { decodeControl, encodeControl } from './control.js';
import { decodeJobFate, encodeJobFate } from './jobFate.js';
import { clientErrorOf } from './stopReason.js';

describe('stop reasons', () => {
  it('tell a client still waiting why, and publish nothing when nobody can receive it', () => {
    expect(clientErrorOf('operator_cancelled')).toBe('operator_cancelled');
    expect(clientErrorOf('shutting_down')).toBe('shutting_down');
    expect(clientErrorOf('relay_lost')).toBe('relay_lost');
    expect(clientErrorOf('cancelled')).toBe('cancelled');
    expect(clientErrorOf('client_disconnected')).toBeUndefined();
    expect(clientErrorOf('reply_unreachable')).toBeUndefined();
  });

  it('travel in cancel messages as they are; a reason this version does not know stops the request as `cancelled`', () => {
    expect(decodeControl(encodeControl({ type: 'cancel', rid: 'r', reason: 'client_disconnected' }))).toEqual({ type: 'cancel', rid: 'r', reason: 'client_disconnected' });
    expect(decodeControl(JSON.stringify({ type: 'cancel', rid: 'r', reason: 'client disconnected' }))?.reason).toBe('cancelled');
    expect(decodeControl(JSON.stringify({ type: 'cancel', rid: 'r' }))?.reason).toBe('cancelled');
    // Only a dispatcher detects its own reply path gone; a message cannot claim it.
    expect(decodeControl(JSON.stringify({ type: 'cancel', rid: 'r', reason: 'reply_unreachable' }))?.reason).toBe('cancelled');
    expect(decodeControl(JSON.stringify({ type: 'cancel', rid: 'r', reason: 'toString' }))?.reason).toBe('cancelled');
  });
});

describe('job fates', () => {
  it('round-trip both meanings, and read an older dispatcher\'s bare id as started there', () => {
    for (const fate of [{ kind: 'abandoned' }, { kind: 'started', dispatcher: 'host-1-abc' }] as const) {
      expect(decodeJobFate(encodeJobFate(fate))).toEqual(fate);
    }
    expect(decodeJobFate('host-2-def')).toEqual({ kind: 'started', dispatcher: 'host-2-def' });
    expect(decodeJobFate(null)).toBeUndefined();
  });
});
