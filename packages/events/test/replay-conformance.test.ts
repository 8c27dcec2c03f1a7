// Replay equals the stored state, field by field, for every workflow of the whole conformance suite
// (chains, joins, failures, jumps, synthetic stages, signals, patterns, recovery, golden workflows),
// on every backend (PostgreSQL with STABILIZE_TEST_PG_URL): the suite runs with event sourcing on,
// and closing each backend replays every workflow it holds and compares it with `store.retrieve`.
import { runConformanceSuite } from '@stabilize/core/testing';
import { afterAll, expect } from 'vitest';
import { BACKENDS, eventSourcedFactory, PG_URL, postgres, replayStats } from './support/backends.js';

for (const { name, open } of BACKENDS) runConformanceSuite(eventSourcedFactory(`${name} + event sourcing`, open));
// Skipped without STABILIZE_TEST_PG_URL (the global setup says so, and fails the run when CI=true).
if (PG_URL) runConformanceSuite(eventSourcedFactory('postgres + event sourcing', postgres));

afterAll(() => {
  console.log(`replay checked ${replayStats.workflows} workflows (${replayStats.finished} finished, ${replayStats.stages} stages, ${replayStats.synthetic} synthetic) on ${replayStats.backends} backends`);
  expect(replayStats.workflows).toBeGreaterThan(200);
});
