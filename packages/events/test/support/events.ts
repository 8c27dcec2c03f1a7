import type { EntityType, EventRecord } from '@stabilize/core';
import { eventRecord } from '@stabilize/core/testing';

let position = 0;

/** A stored-looking event (sequence/position set) for unit tests. */
export function ev(workflowId: string, eventType: string, init: Partial<EventRecord> & { entityType?: EntityType } = {}): EventRecord {
  position += 1;
  return eventRecord(workflowId, eventType, { sequence: position, position, ...init });
}
