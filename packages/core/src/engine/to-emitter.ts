import { EventEmitter } from 'eventemitter3';
import type { Observable } from 'rxjs';
import type { RunEvent, RunEventMap } from '../contracts/events.js';

/** The one bridge from the event stream to listeners: `event` for all, and one name per `type`. */
export function toEmitter(events$: Observable<RunEvent>): EventEmitter<RunEventMap> {
  const emitter = new EventEmitter<RunEventMap>();
  events$.subscribe((event) => {
    (emitter.emit as (name: string, event: RunEvent) => boolean)(event.type, event);
    emitter.emit('event', event);
  });
  return emitter;
}
