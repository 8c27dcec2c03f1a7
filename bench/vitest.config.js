// Shared with the PostgreSQL packages (see packages/store-postgres/vitest.config.js):
// - Node's own conditions: the shared config passes `import` and `module` as `--conditions` to the
//   test processes, which makes Node's `require('pg-pool')` (inside the CommonJS `pg`) load the ESM
//   build and fail ("Class extends value [object Module]"). Vite adds import/require by itself.
// - A global setup that prints ONE line when the PostgreSQL suites are skipped (no
//   STABILIZE_TEST_PG_URL) and fails the run when CI=true and the URL is missing.
import { defineConfig } from 'vitest/config';
import shared from '../vitest.shared.js';

const conditions = ['@stabilize/source', 'node', 'development|production'];

export default defineConfig({
  ...shared,
  resolve: { ...shared.resolve, conditions },
  ssr: { ...shared.ssr, resolve: { ...shared.ssr?.resolve, conditions, externalConditions: ['@stabilize/source'] } },
  test: { ...shared.test, globalSetup: ['../test-support/pg-global-setup.ts'] },
});
