import { createRuntime, MemoryStore, type Plugin } from '@beamline/core';
import { describe, expect, it } from 'vitest';
import { reportRuntimeEvents } from './runtime-events.js';
import { createFakeIO } from './testing/fake-io.js';

/** A plugin that reports at start-up, before anyone could have subscribed. */
const reporter: Plugin = {
  name: 'reporter',
  register() {},
  start(context) {
    context.events.emit({ level: 'info', source: 'reporter', message: 'all quiet' });
    context.events.emit({
      level: 'warning',
      source: 'reporter',
      message: 'stopped a leftover\u001b[2J group',
    });
    return Promise.resolve();
  },
};

describe('reportRuntimeEvents', () => {
  it('prints start-up warnings on stderr, escaped, and keeps information quiet', async () => {
    const io = createFakeIO();
    const runtime = reportRuntimeEvents(
      await createRuntime({ plugins: [reporter], store: new MemoryStore(), cwd: io.cwd }),
      io,
    );
    await runtime.close();
    expect(io.stderr.text).toBe('beamline: warning (reporter): stopped a leftover\\u001b[2J group\n');
    expect(io.stdout.text).toBe('');
  });

  it('prints information too with BEAMLINE_DEBUG', async () => {
    const io = createFakeIO({ env: { BEAMLINE_DEBUG: '1' } });
    const runtime = reportRuntimeEvents(
      await createRuntime({ plugins: [reporter], store: new MemoryStore(), cwd: io.cwd }),
      io,
    );
    await runtime.close();
    expect(io.stderr.text).toContain('beamline: info (reporter): all quiet\n');
  });
});
