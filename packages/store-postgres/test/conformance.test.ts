// The core conformance suite against PostgreSQL (the event-store contract included): every backend
// instance gets a fresh, migrated schema, dropped when the suite closes it.
import { type CorruptionTarget, runConformanceSuite } from '@stabilize/core/testing';
import { PostgresEventStore, PostgresQueue, PostgresWorkflowStore } from '../src/index.js';
import { dropSchema, migratedSchema, PG_URL, sql } from './pg.js';

if (PG_URL) {
  runConformanceSuite({
    name: 'postgres',
    async create(clock) {
      const { schema, url } = await migratedSchema('conf');
      const store = new PostgresWorkflowStore(url, { clock, poolSize: 4 });
      const queue = new PostgresQueue(url, { clock, poolSize: 4 });
      const events = new PostgresEventStore(url, { clock, poolSize: 4 });
      return {
        store,
        queue,
        events,
        corrupt: (target) => corruptRow(schema, target),
        async close() {
          await events.close();
          await store.close();
          await queue.close();
          await dropSchema(schema);
        },
      };
    },
  });
}

/**
 * The corruption hook: plain SQL on the schema. `jsonb` cannot hold malformed JSON, so JSON columns
 * get a JSON string where an object belongs; status columns get an unknown name.
 */
async function corruptRow(schema: string, target: CorruptionTarget): Promise<void> {
  const t = (table: string) => `"${schema}".${table}`;
  const bad = (column: string) => (column === 'status' ? "'BOGUS_STATUS'" : `to_jsonb('{not json'::text)`);
  switch (target.kind) {
    case 'workflow':
      await sql(`UPDATE ${t('pipeline_executions')} SET "${target.column}" = ${bad(target.column)} WHERE id = $1`, [target.workflowId]);
      return;
    case 'stage':
      await sql(`UPDATE ${t('stage_executions')} SET "${target.column}" = ${bad(target.column)} WHERE id = $1`, [target.stageId]);
      return;
    case 'task':
      await sql(`UPDATE ${t('task_executions')} SET status = 'BOGUS_STATUS' WHERE id = $1`, [target.taskId]);
      return;
    case 'message':
      await sql(
        target.problem === 'malformed'
          ? `UPDATE ${t('queue_messages')} SET payload = to_jsonb('{not json'::text) WHERE payload->>'executionId' = $1`
          : `UPDATE ${t('queue_messages')} SET message_type = 'NoSuchMessage', payload = jsonb_set(payload, '{type}', '"NoSuchMessage"') WHERE payload->>'executionId' = $1`,
        [target.workflowId],
      );
  }
}
