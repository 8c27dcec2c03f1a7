// The shared settings with the changes of the PostgreSQL packages (see
// packages/store-postgres/vitest.config.js): Node's own conditions, so `pg` loads as CommonJS in the
// test processes, and the global setup that explains a PostgreSQL skip or fails it under CI=true.
// Files run one at a time: every case starts several worker processes on a 2-core budget.
import { defineConfig } from 'vitest/config';
import shared from '../vitest.shared.js';

const conditions = ['@stabilize/source', 'node', 'development|production'];

export default defineConfig({
  ...shared,
  resolve: { ...shared.resolve, conditions },
  ssr: { ...shared.ssr, resolve: { ...shared.ssr?.resolve, conditions, externalConditions: ['@stabilize/source'] } },
  test: { ...shared.test, globalSetup: ['../test-support/pg-global-setup.ts'], fileParallelism: false, testTimeout: 600_000, hookTimeout: 120_000 },
});
