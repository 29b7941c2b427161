import { describe, expect, it } from 'vitest';
import { Demuxer } from './demuxer.js';
import { exitStatus, shellExitCode } from './exit-status.js';

const frame = (type: number, payload: Buffer): Buffer => {
  const head = Buffer.alloc(8);
  head[0] = type;
  head.writeUInt32BE(payload.length, 4);
  return Buffer.concat([head, payload]);
};

describe('Demuxer', () => {
  it('splits frames byte-exact across arbitrary chunk boundaries', () => {
    const out = Buffer.from([0, 1, 2, 255, 10, 13]);
    const err = Buffer.from('error\n');
    const wire = Buffer.concat([
      frame(1, out),
      frame(2, err),
      frame(0, Buffer.from('in')),
      frame(1, Buffer.alloc(0)),
    ]);
    for (const size of [1, 3, 7, 8, 9, wire.length]) {
      const got = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
      const d = new Demuxer((s, data) => got[s].push(Buffer.from(data)));
      for (let i = 0; i < wire.length; i += size) d.push(wire.subarray(i, i + size));
      expect(Buffer.concat(got.stdout).equals(out)).toBe(true);
      expect(Buffer.concat(got.stderr).toString()).toBe('error\nin');
      expect(d.leftover).toBe(0);
    }
  });
});

describe('exit status', () => {
  it('maps 128+n to the signal with a null code, as the core contract asks', () => {
    expect(exitStatus(137)).toEqual({ code: null, signal: 'SIGKILL' });
    expect(exitStatus(143)).toEqual({ code: null, signal: 'SIGTERM' });
    expect(exitStatus(7)).toEqual({ code: 7, signal: null });
    expect(exitStatus(128)).toEqual({ code: 128, signal: null });
    expect(shellExitCode({ code: null, signal: 'SIGKILL' })).toBe(137);
  });
});
