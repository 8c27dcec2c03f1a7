import type { Clock } from '@stabilize/core';
import type { BackendFactory, BackendUnderTest, CorruptionTarget } from '@stabilize/core/testing';
import type Database from 'better-sqlite3';
import { openSqliteBackend, SqliteEventStore } from '../../src/index.js';
import { tempDir } from './temp.js';

/** The conformance-suite factory: every backend is a fresh SQLite file in its own temp dir. */
export const sqliteFileFactory: BackendFactory = {
  name: 'sqlite-file',
  async create(clock: Clock): Promise<BackendUnderTest> {
    const dir = tempDir();
    const file = dir.file('conformance.db');
    const backend = openSqliteBackend(file, { clock });
    const events = new SqliteEventStore(file, { clock });
    return {
      store: backend.store,
      queue: backend.queue,
      events,
      corrupt: async (target) => corruptRow(backend.store.database, target),
      async close() {
        await events.close();
        await backend.close();
        dir.remove();
      },
    };
  },
};

/** The corruption hook of the conformance suite: writes the bad value with plain SQL. */
export function corruptRow(db: Database.Database, target: CorruptionTarget): void {
  const bad = (column: string) => (column === 'status' ? 'BOGUS_STATUS' : '{not json');
  switch (target.kind) {
    case 'workflow':
      db.prepare(`UPDATE pipeline_executions SET "${target.column}" = ? WHERE id = ?`).run(bad(target.column), target.workflowId);
      return;
    case 'stage':
      db.prepare(`UPDATE stage_executions SET "${target.column}" = ? WHERE id = ?`).run(bad(target.column), target.stageId);
      return;
    case 'task':
      db.prepare('UPDATE task_executions SET status = ? WHERE id = ?').run(bad('status'), target.taskId);
      return;
    case 'message':
      if (target.problem === 'malformed') db.prepare("UPDATE queue_messages SET payload = '{not json' WHERE execution_id = ?").run(target.workflowId);
      else db.prepare("UPDATE queue_messages SET message_type = 'NoSuchMessage', payload = json_set(payload, '$.type', 'NoSuchMessage') WHERE execution_id = ?").run(target.workflowId);
  }
}
