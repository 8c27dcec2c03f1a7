import type { Clock } from '@stabilize/core';
import type { BackendFactory, BackendUnderTest } from '@stabilize/core/testing';
import { openSqliteBackend } from '../../src/index.js';
import { tempDir } from './temp.js';

/** The conformance-suite factory: every backend is a fresh SQLite file in its own temp dir. */
export const sqliteFileFactory: BackendFactory = {
  name: 'sqlite-file',
  async create(clock: Clock): Promise<BackendUnderTest> {
    const dir = tempDir();
    const backend = openSqliteBackend(dir.file('conformance.db'), { clock });
    return {
      store: backend.store,
      queue: backend.queue,
      async close() {
        await backend.close();
        dir.remove();
      },
    };
  },
};
