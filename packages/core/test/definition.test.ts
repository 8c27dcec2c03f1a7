import { describe, expect, it } from 'vitest';
import { CircularDependencyError, createInMemoryBackend, InvalidStageGraphError, ValidationError, workflowFromDefinition } from '../src/index.js';

const valid = () => ({
  application: 'app',
  name: 'deploy',
  context: { region: 'eu' },
  stages: [
    { refId: 'build', type: 'shell', context: { command: 'make' } },
    { refId: 'test', requisiteStageRefIds: ['build'], tasks: [{ name: 'unit', implementingClass: 'shell' }, { implementingClass: 'report' }] },
  ],
});

describe('workflowFromDefinition', () => {
  it('builds a validated workflow; a stage without tasks runs its type', () => {
    const wf = workflowFromDefinition(valid());
    expect(wf.stages.map((s) => [s.refId, s.tasks.map((t) => t.implementingClass)])).toEqual([
      ['build', ['shell']],
      ['test', ['shell', 'report']],
    ]);
    expect(wf.context).toEqual({ region: 'eu' });
    expect(wf.stages[1]!.requisiteStageRefIds).toEqual(['build']);
  });

  it('rejects hostile and malformed input with a typed error naming the path, storing nothing', async () => {
    const { store } = createInMemoryBackend();
    const cases: Array<[unknown, RegExp, new (...args: never[]) => Error]> = [
      [JSON.parse('{"application":"a","name":"n","stages":[],"__proto__":{"polluted":true}}'), /forbidden key '__proto__'/, ValidationError],
      [{ ...valid(), stages: [{ refId: 'x', type: 't', context: JSON.parse('{"constructor":{"prototype":{"p":1}}}') }] }, /forbidden key 'constructor'/, ValidationError],
      [{ ...valid(), extra: 1 }, /definition: unknown field 'extra'/, ValidationError],
      [{ ...valid(), stages: [{ refId: 'x', type: 't', bogus: true }] }, /definition.stages\[0\]: unknown field 'bogus'/, ValidationError],
      [{ ...valid(), stages: [{ refId: 1, type: 't' }] }, /definition.stages\[0\].refId must be a string/, ValidationError],
      [{ ...valid(), stages: [{ refId: 'x' }] }, /needs tasks or a type/, ValidationError],
      [{ ...valid(), stages: [{ refId: 'x', type: 't', joinType: 'MAYBE' }] }, /joinType must be one of/, ValidationError],
      [{ ...valid(), stages: [{ refId: 'x', type: 't', joinThreshold: -1 }] }, /joinThreshold must be a non-negative integer/, ValidationError],
      [{ ...valid(), stages: [{ refId: 'a', type: 't', requisiteStageRefIds: ['b'] }, { refId: 'b', type: 't', requisiteStageRefIds: ['a'] }] }, /Invalid stage relationships/, CircularDependencyError],
      [{ ...valid(), stages: [{ refId: 'a', type: 't', requisiteStageRefIds: ['nope'] }] }, /unknown_ref/, InvalidStageGraphError],
      [{ ...valid(), context: { deep: JSON.parse(`${'['.repeat(200)}${']'.repeat(200)}`) } }, /nested deeper than/, ValidationError],
      [{ ...valid(), context: { big: Number.POSITIVE_INFINITY } }, /non-finite number/, ValidationError],
      ['not an object', /must be a JSON object/, ValidationError],
      [{ ...valid(), stages: 'x' }, /definition.stages must be a list/, ValidationError],
    ];
    for (const [input, message, type] of cases) {
      expect(() => workflowFromDefinition(input), String(message)).toThrow(type);
      expect(() => workflowFromDefinition(input), String(message)).toThrow(message);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await store.listWorkflows({})).toEqual([]);
  });
});
