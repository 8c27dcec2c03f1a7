// `pnpm test:packaging`: the slow packaging check only (not part of `pnpm test`).
import { defineConfig } from 'vitest/config';
import shared from '../../vitest.shared.js';

export default defineConfig({
  ...shared,
  test: { ...shared.test, include: ['packaging/**/*.test.ts'], testTimeout: 600_000, hookTimeout: 900_000 },
});
