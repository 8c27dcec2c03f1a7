// The core conformance suite against PostgreSQL: every backend instance gets a fresh, migrated
// schema, dropped when the suite closes it.
import { runConformanceSuite } from '@stabilize/core/testing';
import { PostgresQueue, PostgresWorkflowStore } from '../src/index.js';
import { dropSchema, migratedSchema, PG_URL } from './pg.js';

if (PG_URL) {
  runConformanceSuite({
    name: 'postgres',
    providesEvents: false, // the PostgreSQL event store is not written yet (see docs/event-sourcing.md)
    async create(clock) {
      const { schema, url } = await migratedSchema('conf');
      const store = new PostgresWorkflowStore(url, { clock, poolSize: 4 });
      const queue = new PostgresQueue(url, { clock, poolSize: 4 });
      return {
        store,
        queue,
        async close() {
          await store.close();
          await queue.close();
          await dropSchema(schema);
        },
      };
    },
  });
}
