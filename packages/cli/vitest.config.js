// The shared settings with two changes (see packages/store-postgres/vitest.config.js):
// - Node's own conditions without `import` / `module`, which make the CommonJS `pg` load the ESM
//   build of `pg-pool` and fail;
// - a global setup that prints ONE line when the PostgreSQL tests are skipped (no
//   STABILIZE_TEST_PG_URL) and fails the run when CI=true and the URL is missing.
import { defineConfig } from 'vitest/config';
import shared from '../../vitest.shared.js';

const conditions = ['@stabilize/source', 'node', 'development|production'];

export default defineConfig({
  ...shared,
  resolve: { ...shared.resolve, conditions },
  ssr: { ...shared.ssr, resolve: { ...shared.ssr?.resolve, conditions, externalConditions: ['@stabilize/source'] } },
  test: { ...shared.test, globalSetup: ['../../test-support/pg-global-setup.ts'] },
});
