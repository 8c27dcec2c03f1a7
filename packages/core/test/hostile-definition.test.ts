// Hostile workflow definitions (issue 11) not covered by definition.test.ts: prototype-pollution
// keys at any depth, oversized and deeply nested input, cyclic graphs and objects, wrong types.
// Every case asserts the exact typed error and that nothing was stored.
import { describe, expect, it } from 'vitest';
import { CircularDependencyError, createInMemoryBackend, DEFINITION_LIMITS, InvalidStageGraphError, ValidationError, workflowFromDefinition } from '../src/index.js';

const base = () => ({ application: 'app', name: 'n', stages: [{ refId: 'a', type: 't' }] as unknown[] });
const stage = (extra: Record<string, unknown>) => ({ ...base(), stages: [{ refId: 'a', type: 't', ...extra }] });

type Case = [name: string, input: () => unknown, message: RegExp, type?: new (...args: never[]) => Error];

/** Stores what the definition builds; a rejection must come before anything is stored. */
async function rejects([name, input, message, type = ValidationError]: Case): Promise<void> {
  const { store } = createInMemoryBackend();
  let error: unknown = null;
  try {
    await store.store(workflowFromDefinition(input()));
  } catch (e) {
    error = e;
  }
  expect(error, name).toBeInstanceOf(type);
  expect((error as Error).message, name).toMatch(message);
  expect(await store.listWorkflows({}), name).toEqual([]);
}

describe('hostile definitions', () => {
  it('prototype-pollution keys are refused at any depth and pollute nothing', async () => {
    const cases: Case[] = [
      ['__proto__ deep in a stage context', () => stage({ context: JSON.parse('{"a":{"b":[{"c":{"__proto__":{"polluted":1}}}]}}') }), /definition\.stages\[0\]\.context\.a\.b\[0\]\.c uses the forbidden key '__proto__'/],
      ['prototype deep in a stage context', () => stage({ context: { a: { b: { prototype: { polluted: 1 } } } } }), /forbidden key 'prototype'/],
      ['constructor in the workflow context', () => ({ ...base(), context: { x: [{ constructor: { prototype: { polluted: 1 } } }] } }), /definition\.context\.x\[0\] uses the forbidden key 'constructor'/],
      ['__proto__ as a stage field', () => ({ ...base(), stages: [JSON.parse('{"refId":"a","type":"t","__proto__":{"polluted":1}}')] }), /definition\.stages\[0\] uses the forbidden key '__proto__'/],
      ['__proto__ in a task', () => stage({ tasks: [JSON.parse('{"implementingClass":"t","__proto__":{"polluted":1}}')] }), /definition\.stages\[0\]\.tasks\[0\] uses the forbidden key '__proto__'/],
      ['constructor in splitConditions', () => stage({ splitConditions: JSON.parse('{"constructor":"true"}') }), /splitConditions uses the forbidden key 'constructor'/],
      ['prototype in outputReducers', () => stage({ outputReducers: { prototype: 'sum' } }), /outputReducers uses the forbidden key 'prototype'/],
      ['__proto__ in trigger parameters', () => ({ ...base(), trigger: { parameters: JSON.parse('{"__proto__":{"polluted":1}}') } }), /definition\.trigger\.parameters uses the forbidden key '__proto__'/],
      ['constructor in trigger artifacts', () => ({ ...base(), trigger: { artifacts: [{ constructor: 1 }] } }), /definition\.trigger\.artifacts\[0\] uses the forbidden key 'constructor'/],
      ['prototype at the top level', () => ({ ...base(), prototype: {} }), /definition uses the forbidden key 'prototype'/],
    ];
    for (const c of cases) await rejects(c);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as unknown as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('oversized or deeply nested input is refused', async () => {
    const deepObject = () => {
      let v: Record<string, unknown> = {};
      for (let i = 0; i < 10_000; i++) v = { v };
      return v;
    };
    const cases: Case[] = [
      ['an object nested 10,000 deep', () => stage({ context: deepObject() }), /nested deeper than 64 levels/],
      ['an array nested 65 deep in the trigger', () => ({ ...base(), trigger: { payload: { x: JSON.parse(`${'['.repeat(65)}${']'.repeat(65)}`) } } }), /nested deeper than 64 levels/],
      ['a context over the byte limit', () => stage({ context: { blob: 'x'.repeat(DEFINITION_LIMITS.maxDefinitionBytes) } }), new RegExp(`more than ${DEFINITION_LIMITS.maxDefinitionBytes}$`)],
      ['more stages than the limit', () => ({ ...base(), stages: Array.from({ length: DEFINITION_LIMITS.maxStages + 1 }, () => ({})) }), /definition\.stages has more than 100000 stages/],
      ['more tasks than the limit', () => stage({ tasks: Array.from({ length: DEFINITION_LIMITS.maxTasksPerStage + 1 }, () => ({ implementingClass: 't' })) }), /tasks has more than 1000 tasks/],
      ['a refId over the id limit', () => ({ ...base(), stages: [{ refId: 'r'.repeat(10_000), type: 't' }] }), /refId/],
    ];
    for (const c of cases) await rejects(c);
  });

  it('cyclic graphs and cyclic objects are refused', async () => {
    const ring = (n: number) => ({ ...base(), stages: Array.from({ length: n }, (_, i) => ({ refId: `s${i}`, type: 't', requisiteStageRefIds: [`s${(i + n - 1) % n}`] })) });
    const selfReferencing = () => {
      const context: Record<string, unknown> = {};
      context.self = context;
      return stage({ context });
    };
    const cases: Case[] = [
      ['a self edge', () => stage({ requisiteStageRefIds: ['a'] }), /self_edge|itself/i, InvalidStageGraphError],
      ['a three-stage cycle', () => ring(3), /Invalid stage relationships/, CircularDependencyError],
      ['a 2,000-stage ring', () => ring(2000), /Invalid stage relationships/, CircularDependencyError],
      ['a cycle behind a valid prefix', () => ({ ...base(), stages: [{ refId: 'a', type: 't' }, { refId: 'b', type: 't', requisiteStageRefIds: ['a', 'c'] }, { refId: 'c', type: 't', requisiteStageRefIds: ['b'] }] }), /Invalid stage relationships/, CircularDependencyError],
      ['a duplicate refId', () => ({ ...base(), stages: [{ refId: 'a', type: 't' }, { refId: 'a', type: 't' }] }), /duplicate/i, InvalidStageGraphError],
      ['an object that contains itself', selfReferencing, /contains a cycle/],
    ];
    for (const c of cases) await rejects(c);
  });

  it('wrong types anywhere are refused with the path', async () => {
    const cases: Case[] = [
      ['application is a number', () => ({ ...base(), application: 7 }), /definition\.application must be a string/],
      ['name is missing', () => ({ application: 'a', stages: [] }), /definition\.name must be a string/],
      ['a stage is null', () => ({ ...base(), stages: [null] }), /definition\.stages\[0\] must be an object/],
      ['a stage is an array', () => ({ ...base(), stages: [['refId', 'a']] }), /definition\.stages\[0\] must be an object/],
      ['tasks is an object', () => stage({ tasks: { implementingClass: 't' } }), /definition\.stages\[0\]\.tasks must be a list/],
      ['a task is a string', () => stage({ tasks: ['t'] }), /definition\.stages\[0\]\.tasks\[0\] must be an object/],
      ['implementingClass is a number', () => stage({ tasks: [{ implementingClass: 1 }] }), /tasks\[0\]\.implementingClass must be a string/],
      ['an unknown task field', () => stage({ tasks: [{ implementingClass: 't', retries: 3 }] }), /tasks\[0\]: unknown field 'retries'/],
      ['requisiteStageRefIds is a string', () => stage({ requisiteStageRefIds: 'b' }), /requisiteStageRefIds must be a list of refIds/],
      ['a stage context is an array', () => stage({ context: [] }), /definition\.stages\[0\]\.context must be an object/],
      ['the workflow context is a string', () => ({ ...base(), context: 'x' }), /definition\.context must be an object/],
      ['the trigger is an array', () => ({ ...base(), trigger: [] }), /definition\.trigger must be an object/],
      ['an unknown trigger field', () => ({ ...base(), trigger: { when: 'now' } }), /definition\.trigger: unknown field 'when'/],
      ['trigger.user is a number', () => ({ ...base(), trigger: { user: 1 } }), /definition\.trigger\.user must be a string/],
      ['trigger.parameters is a list', () => ({ ...base(), trigger: { parameters: [] } }), /definition\.trigger\.parameters must be an object/],
      ['trigger.artifacts is an object', () => ({ ...base(), trigger: { artifacts: {} } }), /definition\.trigger\.artifacts must be a list/],
      ['limitConcurrent is a string', () => ({ ...base(), limitConcurrent: 'yes' }), /definition\.limitConcurrent must be true or false/],
      ['keepWaitingPipelines is a number', () => ({ ...base(), keepWaitingPipelines: 1 }), /definition\.keepWaitingPipelines must be true or false/],
      ['maxConcurrentExecutions is a string', () => ({ ...base(), maxConcurrentExecutions: '5' }), /maxConcurrentExecutions must be a non-negative integer/],
      ['maxConcurrentExecutions is negative', () => ({ ...base(), maxConcurrentExecutions: -1 }), /maxConcurrentExecutions must be a non-negative integer/],
      ['pipelineConfigId is an object', () => ({ ...base(), pipelineConfigId: {} }), /definition\.pipelineConfigId must be a string/],
      ['joinThreshold is fractional', () => stage({ joinThreshold: 1.5 }), /joinThreshold must be a non-negative integer/],
      ['splitType is unknown', () => stage({ splitType: 'NAND' }), /splitType must be one of AND, OR, XOR/],
      ['a split condition is a number', () => stage({ splitConditions: { b: 1 } }), /splitConditions must map names to strings/],
      ['milestoneStatus is not a status', () => stage({ milestoneStatus: 'running' }), /milestoneStatus is not a status/],
      ['startTimeExpiry is a date string', () => stage({ startTimeExpiry: '2030-01-01' }), /startTimeExpiry must be epoch milliseconds/],
      ['mutexKey is a number', () => stage({ mutexKey: 1 }), /mutexKey must be a string/],
      ['a BigInt in a context', () => stage({ context: { n: 1n } }), /holds a bigint, which JSON cannot carry/],
      ['a function in a context', () => stage({ context: { f: () => 1 } }), /holds a function, which JSON cannot carry/],
      ['a Date in a context', () => stage({ context: { d: new Date(0) } }), /is not a plain JSON object \(Date\)/],
      ['NaN in a context', () => stage({ context: { n: Number.NaN } }), /non-finite number/],
    ];
    for (const c of cases) await rejects(c);
  });
});
