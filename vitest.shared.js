// Shared Vitest settings: tests import sibling packages from their TypeScript sources through the
// "@stabilize/source" export condition, so no build is needed before `pnpm test`.
import { defineConfig } from 'vitest/config';

const conditions = ['@stabilize/source', 'node', 'development|production'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@stabilize/source'] } },
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
