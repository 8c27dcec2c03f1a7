// Replay equals the stored state, field by field, for every workflow of the whole conformance suite
// (chains, joins, failures, jumps, synthetic stages, signals, patterns, recovery, golden workflows),
// on every backend (PostgreSQL with STABILIZE_TEST_PG_URL): the suite runs with event sourcing on,
// and closing each backend replays every workflow it holds and compares it with `store.retrieve`.
import { runConformanceSuite } from '@stabilize/core/testing';
import { afterAll, expect } from 'vitest';
import { BACKENDS, eventSourcedFactory, replayStats } from './support/backends.js';

// BACKENDS has PostgreSQL only with STABILIZE_TEST_PG_URL (the global setup says so, and fails the run when CI=true).
for (const { name, open } of BACKENDS) runConformanceSuite(eventSourcedFactory(`${name} + event sourcing`, open));

afterAll(() => {
  console.log(`replay checked ${replayStats.workflows} workflows (${replayStats.finished} finished, ${replayStats.stages} stages, ${replayStats.synthetic} synthetic) on ${replayStats.backends} backends`);
  expect(replayStats.workflows).toBeGreaterThan(200);
});
