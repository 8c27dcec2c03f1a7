// Fuzz of workflow definitions (issue 11): 10,000 seeded random definitions, most of them mutated
// into something hostile or malformed, go through `workflowFromDefinition`; every accepted one is
// started on the in-memory backend. Pinned: nothing crashes, every rejection is a ValidationError
// (its subclasses included), every accepted definition runs to a final status, no handler throws.
// Reproduce one case with FUZZ_SEED=<seed> FUZZ_COUNT=1.
import { describe, expect, it } from 'vitest';
import {
  createInMemoryBackend,
  isComplete,
  JoinType,
  ManualClock,
  Orchestrator,
  QueueProcessor,
  SplitType,
  TaskRegistry,
  TaskResult,
  TransientError,
  ValidationError,
  type Workflow,
  workflowFromDefinition,
} from '../src/index.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed2026);
const COUNT = Number(process.env.FUZZ_COUNT ?? 10_000);
const BATCH = 100;

/** mulberry32: small, fast, reproducible. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  return { next, int, pick, chance: (p: number) => next() < p };
}
type Rng = ReturnType<typeof rng>;

const TASKS = ['success', 'fail', 'throw', 'fc', 'poll', 'flaky', 'big', 'unregistered'] as const;
const CONDITIONS = ['x == 1', 'x > 2', 'not x', "y == 'a'", 'x in [1, 2]', "constructor.constructor('return process')()", `${'('.repeat(200)}x`, '1 +', ''];
const FORBIDDEN = ['__proto__', 'constructor', 'prototype'];
const JOINS = Object.values(JoinType);
const WRONG: readonly unknown[] = [null, 0, -1, 1.5, '', 'x', true, [], {}, [1, 'a'], { a: 1 }, Number.NaN, Number.POSITIVE_INFINITY, 10n, () => 1, new Date(0), Symbol('s')];
const WORKFLOW_FIELDS = ['application', 'name', 'stages', 'context', 'trigger', 'pipelineConfigId', 'limitConcurrent', 'maxConcurrentExecutions', 'keepWaitingPipelines'];
const STAGE_FIELDS = ['refId', 'type', 'name', 'requisiteStageRefIds', 'context', 'tasks', 'joinType', 'joinThreshold', 'splitType', 'splitConditions', 'outputReducers', 'startTimeExpiry'];

type Json = Record<string, unknown>;

function value(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 3 ? 4 : 6)) {
    case 0:
      return r.int(100);
    case 1:
      return r.pick(['a', 'b', '', 'é', 'x'.repeat(r.int(50))]);
    case 2:
      return r.chance(0.5);
    case 3:
      return null;
    case 4:
      return Array.from({ length: r.int(4) }, () => value(r, depth + 1));
    default:
      return Object.fromEntries(Array.from({ length: r.int(4) }, (_, i) => [`k${i}`, value(r, depth + 1)]));
  }
}

/** A valid definition: 1-6 stages, edges only to earlier stages, random tasks, joins and splits. */
function definition(r: Rng): Json {
  const n = 1 + r.int(6);
  const stages: Json[] = [];
  for (let i = 0; i < n; i++) {
    const requisites = stages.filter(() => r.chance(0.4)).map((s) => s.refId as string);
    const stage: Json = { refId: `s${i}`, context: { x: r.int(4), y: r.pick(['a', 'b']), extra: value(r) } };
    if (r.chance(0.5)) stage.type = r.pick(TASKS);
    else stage.tasks = Array.from({ length: 1 + r.int(3) }, () => (r.chance(0.5) ? { implementingClass: r.pick(TASKS) } : { name: 't', implementingClass: r.pick(TASKS) }));
    if (!stage.type && !stage.tasks) stage.type = 'success';
    if (requisites.length > 0) stage.requisiteStageRefIds = requisites;
    if (requisites.length > 1 && r.chance(0.5)) {
      stage.joinType = r.pick(JOINS);
      if (String(stage.joinType).includes('N_OF_M')) stage.joinThreshold = 1 + r.int(requisites.length);
    }
    if (r.chance(0.2)) (stage.context as Json).continuePipelineOnFailure = true;
    if (r.chance(0.1)) (stage.context as Json).failPipeline = false;
    if (r.chance(0.1)) (stage.context as Json).stageEnabled = { type: 'expression', expression: r.pick(CONDITIONS) };
    stages.push(stage);
  }
  for (const stage of stages) {
    const downstream = stages.filter((d) => ((d.requisiteStageRefIds as string[] | undefined) ?? []).includes(stage.refId as string));
    if (downstream.length > 1 && r.chance(0.4)) {
      stage.splitType = r.pick(Object.values(SplitType));
      stage.splitConditions = Object.fromEntries(downstream.filter(() => r.chance(0.6)).map((d) => [d.refId as string, r.pick(CONDITIONS)]));
    }
  }
  const def: Json = { application: 'fuzz', name: 'w', stages };
  if (r.chance(0.3)) def.context = { run: value(r) };
  if (r.chance(0.2)) def.trigger = { type: 'manual', user: 'u', parameters: { p: value(r) } };
  return def;
}

/** A random object inside `def` (the definition, a stage, a task, a context, the trigger). */
function someObject(r: Rng, def: Json): Json {
  const found: Json[] = [];
  const walk = (v: unknown, depth: number) => {
    if (depth > 6 || v === null || typeof v !== 'object') return;
    if (!Array.isArray(v)) found.push(v as Json);
    for (const child of Object.values(v as Json)) walk(child, depth + 1);
  };
  walk(def, 0);
  return r.pick(found);
}

function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { v };
  return v;
}

/** One hostile or malformed change. */
function mutate(r: Rng, def: Json): Json {
  const stages = Array.isArray(def.stages) ? (def.stages as Json[]) : [];
  const candidate = stages.length > 0 ? r.pick(stages) : null;
  const stage = candidate !== null && typeof candidate === 'object' && !Array.isArray(candidate) ? candidate : null;
  switch (r.int(12)) {
    case 0: // drop a field
      delete someObject(r, def)[r.pick([...WORKFLOW_FIELDS, ...STAGE_FIELDS, 'implementingClass'])];
      break;
    case 1: // a wrong type in a known field
      if (stage && r.chance(0.6)) stage[r.pick(STAGE_FIELDS)] = r.pick(WRONG);
      else def[r.pick(WORKFLOW_FIELDS)] = r.pick(WRONG);
      break;
    case 2: // an unknown field
      someObject(r, def)[r.pick(['extra', 'status', 'id', 'tasks2', 'toString', 'valueOf', 'hasOwnProperty'])] = value(r);
      break;
    case 3: {
      // a prototype-pollution key at any depth (as JSON.parse creates it: an own property)
      const target = someObject(r, def);
      Object.defineProperty(target, r.pick(FORBIDDEN), { value: { polluted: true }, enumerable: true, configurable: true, writable: true });
      break;
    }
    case 4: // a cycle: an edge back to a later stage or to itself
      if (stage) stage.requisiteStageRefIds = [...((stage.requisiteStageRefIds as string[] | undefined) ?? []), `s${r.int(stages.length)}`];
      break;
    case 5: // a dangling or duplicate refId
      if (stage) {
        if (r.chance(0.5)) stage.requisiteStageRefIds = ['nowhere'];
        else stage.refId = 's0';
      }
      break;
    case 6: // deep nesting around the limit
      someObject(r, def).deep = nested(55 + r.int(20));
      break;
    case 7: // values JSON cannot carry
      someObject(r, def).bad = r.pick([Number.NaN, Number.NEGATIVE_INFINITY, 10n, () => 1, new Date(0), new Map(), Symbol('s'), undefined]);
      break;
    case 8: // unknown enum values and thresholds
      if (stage) {
        const key = r.pick(['joinType', 'splitType', 'milestoneStatus', 'joinThreshold']);
        stage[key] = key === 'joinThreshold' ? r.int(8) - 1 : r.pick(['AND', 'or', 'XOR', 'N_OF_M', 'SUCCEEDED', 'running', 'NOPE', '']);
      }
      break;
    case 9: // wide: many stages or tasks
      if (r.chance(0.5)) def.stages = Array.from({ length: 200 + r.int(300) }, (_, i) => ({ refId: `w${i}`, type: 'success', requisiteStageRefIds: i > 0 ? [`w${i - 1}`] : [] }));
      else if (stage) stage.tasks = Array.from({ length: 1001 }, () => ({ implementingClass: 'success' }));
      break;
    case 10: // the shape replaced
      if (r.chance(0.5)) def.stages = r.pick([{}, 'stages', 1, null, [null], [[]], [1]]);
      else if (stage) stage.tasks = r.pick([{}, 'success', [null], [{}], [{ implementingClass: '' }], [{ implementingClass: 'x'.repeat(10_000) }]]);
      break;
    default: // long ids and names
      if (stage) stage[r.pick(['refId', 'name', 'type'])] = r.pick(['', ' ', 'x'.repeat(5000), '../../etc', '\u0000', '名前']);
  }
  return def;
}

function registry(): TaskRegistry {
  return new TaskRegistry()
    .register('success', () => TaskResult.success({ outputs: { ok: true } }))
    .register('fail', () => TaskResult.terminal('fuzz failure'))
    .register('throw', () => {
      throw new Error('fuzz throw');
    })
    .register('fc', () => TaskResult.failedContinue('soft'))
    .register('poll', (stage) => {
      const n = ((stage.context.n as number | undefined) ?? 0) + 1;
      return n < 3 ? TaskResult.running({ context: { n } }) : TaskResult.success({ outputs: { polled: n } });
    })
    .register('flaky', (_stage, { attempt }) => {
      if (attempt < 2) throw new TransientError('blip', { retryAfterMs: 10 });
      return TaskResult.success();
    })
    .register('big', () => TaskResult.success({ outputs: { blob: 'x'.repeat(10_000) } }));
}

describe('workflow definition fuzz', () => {
  it(`${COUNT} seeded definitions: typed rejections only, every accepted one ends`, async () => {
    const stats = { tried: 0, rejected: 0, accepted: 0, finished: 0, rejectedBy: {} as Record<string, number> };
    const problems: string[] = [];
    let batch: Array<{ seed: number; workflow: Workflow }> = [];

    const runBatch = async () => {
      if (batch.length === 0) return;
      const clock = new ManualClock();
      const { store, queue } = createInMemoryBackend({ clock });
      const orchestrator = new Orchestrator(queue, { store, clock });
      const processor = new QueueProcessor(queue, { store, taskRegistry: registry(), clock, retryDelayMs: 10, handlerConfig: { maxOutputBytes: 4096 } });
      for (const { seed, workflow } of batch) {
        try {
          await orchestrator.start(workflow);
        } catch (error) {
          problems.push(`seed ${seed}: accepted but not startable: ${(error as Error).message}`);
        }
      }
      for (let round = 0; round < 5 && (await queue.size()) > 0; round++) {
        try {
          await processor.processAll({ timeoutMs: 60_000 });
        } catch (error) {
          problems.push(`batch: a handler threw: ${(error as Error).stack}`);
        }
      }
      for (const { seed, workflow } of batch) {
        const stored = await store.retrieveWorkflowOnly(workflow.id);
        if (isComplete(stored.status)) stats.finished++;
        else problems.push(`seed ${seed}: ended ${stored.status}: ${JSON.stringify((await store.retrieve(workflow.id)).stages.map((s) => [s.refId, s.status, s.joinType]))}`);
      }
      if ((await queue.deadLetterCount()) > 0) problems.push(`batch: ${await queue.deadLetterCount()} dead letters`);
      batch = [];
    };

    for (let i = 0; i < COUNT; i++) {
      const seed = (SEED + i) >>> 0;
      const c = rng(seed);
      let def = definition(c);
      const mutations = c.chance(0.2) ? 0 : 1 + c.int(3);
      for (let m = 0; m < mutations; m++) {
        try {
          def = mutate(c, def);
        } catch {
          // an earlier mutation left nothing this one can apply to: the definition stays as it is
        }
      }
      stats.tried++;
      let workflow: Workflow;
      try {
        workflow = workflowFromDefinition(c.chance(0.5) ? def : roundTrip(def));
      } catch (error) {
        stats.rejected++;
        const name = (error as Error)?.constructor?.name ?? typeof error;
        stats.rejectedBy[name] = (stats.rejectedBy[name] ?? 0) + 1;
        if (!(error instanceof ValidationError)) problems.push(`seed ${seed}: rejected with ${name}: ${(error as Error)?.message}`);
        continue;
      }
      stats.accepted++;
      batch.push({ seed, workflow });
      if (batch.length >= BATCH) await runBatch();
    }
    await runBatch();

    console.log(`definition fuzz: ${JSON.stringify(stats)}`);
    expect(problems.slice(0, 10)).toEqual([]);
    expect(stats.tried).toBe(COUNT);
    expect(stats.accepted + stats.rejected).toBe(COUNT);
    expect(stats.finished).toBe(stats.accepted);
    if (COUNT >= 10_000) {
      expect(stats.accepted).toBeGreaterThan(1000); // the generator still makes valid workflows
      expect(stats.rejected).toBeGreaterThan(5000);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  }, 600_000);
});

/** JSON text round trip where possible (what an HTTP body or a file gives), else the object as is. */
function roundTrip(def: Json): unknown {
  try {
    const text = JSON.stringify(def);
    return text === undefined ? def : JSON.parse(text);
  } catch {
    return def;
  }
}
