import { EventEmitter } from 'eventemitter3';
import { ReplaySubject, type Observable } from 'rxjs';
import type {
  Clock,
  EventSink,
  RuntimeEvent,
  RuntimeEventInit,
  RuntimeEventMap,
} from '../contracts/runtime.js';

/** How many recent events a late subscriber of `events$` gets first. */
const REPLAYED = 100;

/**
 * The runtime's event sink (`Tokens.Events`) and the one bridge to its two faces: `events$` for
 * Observables and `emitter` for listeners. Emitting never throws: a warning about a problem must not
 * become a second problem.
 */
export class RuntimeEvents implements EventSink {
  private readonly subject = new ReplaySubject<RuntimeEvent>(REPLAYED);
  readonly emitter = new EventEmitter<RuntimeEventMap>();
  private closed = false;

  constructor(private readonly clock: Clock) {}

  emit(init: RuntimeEventInit): void {
    if (this.closed) return;
    const event: RuntimeEvent = { ...init, time: this.clock.now() };
    this.subject.next(event);
    try {
      this.emitter.emit(event.level, event);
      this.emitter.emit('event', event);
    } catch {
      // A listener's own failure is not the reporter's: the store or runner that emitted carries on.
    }
  }

  get events$(): Observable<RuntimeEvent> {
    return this.subject.asObservable();
  }

  /** Ends `events$` and drops the listeners; later events are ignored. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.subject.complete();
    this.emitter.removeAllListeners();
  }
}
