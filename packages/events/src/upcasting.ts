// Schema versions and upcasting (persistence.md §5.7). Stored events are never rewritten: readers
// upcast an older event step by step (v -> v+1) to the version they understand. A step is
// registered for one event type or for all ('*'); the type-specific step wins.
import type { EventRecord } from '@stabilize/core';
import { CURRENT_SCHEMA_VERSION } from './event-types.js';

export type Upcaster = (event: EventRecord) => EventRecord;

export class UpcastError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UpcastError';
  }
}

export class UpcasterRegistry {
  private readonly steps = new Map<string, Upcaster>();

  /**
   * Registers the step from `fromVersion` to `fromVersion + 1` for `eventType` ('*': any type).
   * The upcaster returns the event with its payload in the newer shape; its `schemaVersion` is set
   * for it.
   */
  register(eventType: string, fromVersion: number, upcast: Upcaster): this {
    if (!Number.isInteger(fromVersion) || fromVersion < 1) throw new RangeError(`fromVersion must be a positive integer, got ${fromVersion}`);
    this.steps.set(`${eventType}\u0000${fromVersion}`, upcast);
    return this;
  }

  /** Registered steps as `[eventType, fromVersion]`, sorted. */
  get registered(): Array<[string, number]> {
    return [...this.steps.keys()]
      .map((k) => {
        const [type, version] = k.split('\u0000') as [string, string];
        return [type, Number(version)] as [string, number];
      })
      .sort((a, b) => a[0].localeCompare(b[0]) || a[1] - b[1]);
  }

  /**
   * `event` in schema `targetVersion` (default CURRENT_SCHEMA_VERSION). The same object when it is
   * already there, or newer (never downcast). A missing step throws UpcastError when `strict`
   * (default), otherwise the event is returned as far as it could be upcast.
   */
  upcast(event: EventRecord, targetVersion: number = CURRENT_SCHEMA_VERSION, options: { strict?: boolean } = {}): EventRecord {
    let current = event;
    while (current.schemaVersion < targetVersion) {
      const from = current.schemaVersion;
      const step = this.steps.get(`${current.eventType}\u0000${from}`) ?? this.steps.get(`*\u0000${from}`);
      if (!step) {
        if (options.strict ?? true) throw new UpcastError(`No upcaster registered for ${current.eventType} from schema v${from} to v${from + 1}`);
        return current;
      }
      current = { ...step(structuredClone(current)), schemaVersion: from + 1 };
    }
    return current;
  }
}
