import { describe, expect, it } from 'vitest';
import { parseMarker, scanMarkers } from './step-markers.js';

describe('step markers', () => {
  it('parses metrics, progress and outputs', () => {
    expect(parseMarker('::metric loss=-1.5e-3 step=12')).toEqual({
      type: 'metric',
      name: 'loss',
      value: -0.0015,
      step: 12,
    });
    expect(parseMarker('::metric val/acc=.5\r')).toEqual({ type: 'metric', name: 'val/acc', value: 0.5 });
    expect(parseMarker('::progress 2.5/10')).toEqual({ type: 'progress', current: 2.5, total: 10 });
    expect(parseMarker('::progress 4 downloading  files ')).toEqual({
      type: 'progress',
      current: 4,
      message: 'downloading  files',
    });
    expect(parseMarker('::output x=[1,2]')).toEqual({ type: 'output', name: 'x', value: [1, 2] });
    expect(parseMarker('::output s=a=b')).toEqual({ type: 'output', name: 's', value: 'a=b' });
    expect(parseMarker('::output empty=')).toEqual({ type: 'output', name: 'empty', value: '' });
  });

  it('ignores lines that are not well-formed markers', () => {
    for (const line of [
      '::metric loss=abc',
      '::metric loss',
      '::progress x/10',
      '::output =1',
      ':: metric a=1',
      'x ::metric a=1',
      '::other a=1',
    ]) {
      expect(parseMarker(line)).toBeUndefined();
    }
  });

  it('scans only lines that start with ::', () => {
    const text = 'std::vector\n::metric a=1\nfoo ::metric b=2\n::progress 1/2\n::output o=3';
    expect(scanMarkers(Buffer.from(text))).toEqual([
      { type: 'metric', name: 'a', value: 1 },
      { type: 'progress', current: 1, total: 2 },
      { type: 'output', name: 'o', value: 3 },
    ]);
    expect(scanMarkers(Buffer.from('no markers here\n'))).toEqual([]);
    expect(scanMarkers(Buffer.from('::metric é=1\n::output s=€\n'))).toEqual([
      { type: 'metric', name: 'é', value: 1 },
      { type: 'output', name: 's', value: '€' },
    ]);
  });
});
