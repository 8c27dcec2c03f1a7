// @stabilize/core/testing: the conformance suite every backend runs, and the harness behind it.
import { describe } from 'vitest';
import type { BackendFactory } from './backend.js';
import { backendContract } from './suite-backend.js';
import { controlScenarios } from './suite-control.js';
import { dagScenarios } from './suite-dag.js';
import { modelScenarios } from './suite-model.js';
import { syntheticScenarios } from './suite-synthetic.js';
import { routingScenarios } from './suite-routing.js';
import { recoveryScenarios } from './suite-recovery.js';
import { goldenScenarios } from './suite-golden.js';
import { eventScenarios } from './suite-events.js';
import { reliabilityScenarios } from './suite-reliability.js';
import { corruptionScenarios } from './suite-corruption.js';
import { patternScenarios, patternUnitScenarios } from './suite-patterns.js';
import { patternWcpScenarios } from './suite-patterns-wcp.js';

export type { BackendFactory, BackendUnderTest, CorruptionTarget } from './backend.js';
export { createHarness, type Harness, S, stageOf } from './harness.js';
export { eventRecord } from './suite-events.js';

/** Registers the whole conformance suite (vitest) for one backend. */
export function runConformanceSuite(factory: BackendFactory): void {
  describe(`conformance: ${factory.name}`, () => {
    backendContract(factory);
    modelScenarios();
    dagScenarios(factory);
    controlScenarios(factory);
    syntheticScenarios(factory);
    routingScenarios(factory);
    recoveryScenarios(factory);
    goldenScenarios(factory);
    if (factory.providesEvents !== false) eventScenarios(factory);
    reliabilityScenarios(factory);
    if (factory.providesCorruption !== false) corruptionScenarios(factory);
    patternUnitScenarios();
    patternScenarios(factory);
    patternWcpScenarios(factory);
  });
}
