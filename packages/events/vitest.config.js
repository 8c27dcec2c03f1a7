// The shared settings plus the PostgreSQL global setup (the replay conformance also runs on
// PostgreSQL): one line when those suites are skipped (no STABILIZE_TEST_PG_URL), a failed run when
// CI=true and the URL is missing.
import { defineConfig } from 'vitest/config';
import shared from '../../vitest.shared.js';

export default defineConfig({
  ...shared,
  test: { ...shared.test, globalSetup: ['../../test-support/pg-global-setup.ts'] },
});
