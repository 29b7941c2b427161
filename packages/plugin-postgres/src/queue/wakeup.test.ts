import { describe, expect, it } from 'vitest';
import { Wakeup } from './wakeup.js';

describe('Wakeup', () => {
  it('ends a sleep early when woken', async () => {
    const wakeup = new Wakeup();
    const begin = Date.now();
    const sleeping = wakeup.sleep(60_000);
    wakeup.wake();
    await sleeping;
    expect(Date.now() - begin).toBeLessThan(30_000);
  });

  it('keeps a wake-up that came while nobody slept for the next sleep (a notification during a read)', async () => {
    const wakeup = new Wakeup();
    wakeup.wake();
    wakeup.wake();
    const begin = Date.now();
    await wakeup.sleep(60_000);
    expect(Date.now() - begin).toBeLessThan(30_000);
    // One pending wake-up, however many came: the sleep after it waits again.
    let ended = false;
    const sleeping = wakeup.sleep(60_000).then(() => (ended = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ended).toBe(false);
    wakeup.wake();
    await sleeping;
    expect(ended).toBe(true);
  });

  it('sleeps the full time when nobody wakes it', async () => {
    const wakeup = new Wakeup();
    const begin = Date.now();
    await wakeup.sleep(50);
    expect(Date.now() - begin).toBeGreaterThanOrEqual(45);
  });
});
