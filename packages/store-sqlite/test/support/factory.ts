import type { Clock } from '@stabilize/core';
import type { BackendFactory, BackendUnderTest } from '@stabilize/core/testing';
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
      async close() {
        await events.close();
        await backend.close();
        dir.remove();
      },
    };
  },
};
