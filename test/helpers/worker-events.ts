/**
 * The pool's structured events (services/worker/pipeline/events.ts) from its log output:
 * one JSON object per line after ` event `. Tests read these instead of the prose lines.
 */
import type { WorkerEvent } from '../../services/worker/pipeline/events.js';

export type { WorkerEvent };
export type EventOf<K extends WorkerEvent['event']> = Extract<WorkerEvent, { event: K }>;

/** The events of one kind, in the order they were logged. */
export function workerEvents<K extends WorkerEvent['event']>(logs: string, kind: K): Array<EventOf<K>> {
  const out: Array<EventOf<K>> = [];
  for (const m of logs.matchAll(/ event (\{.*\})\s*$/gm)) {
    let e: WorkerEvent;
    try {
      e = JSON.parse(m[1]!) as WorkerEvent;
    } catch {
      continue; // a line cut by another process's output
    }
    if (e.event === kind) out.push(e as EventOf<K>);
  }
  return out;
}
