// The three golden-standard workflows of the Python engine (tasks-cli-monitor.md §6), ported as
// acceptance tests: byte-exact final output, exactly-once tokens, on every backend, with a
// synchronous drain and with a concurrent worker.
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Clock, ManualClock, systemClock } from '../clock.js';
import { StageExecution } from '../model/stage-execution.js';
import { WorkflowStatus } from '../model/status.js';
import { TaskExecution } from '../model/task-execution.js';
import { Workflow } from '../model/workflow.js';
import { Orchestrator } from '../orchestrator.js';
import { QueueProcessor } from '../processor/queue-processor.js';
import { TaskRegistry } from '../task/registry.js';
import type { RetryableTask, Task } from '../task/task.js';
import { TaskResult } from '../task/task-result.js';
import type { BackendFactory } from './backend.js';
import { eventually } from './suite-control.js';

export const GOLDEN_V1_EXPECTED =
  'PHASE1_SETUP::PHASE2A_RETRY_SUCCESS::PHASE2B_TIMEOUT_COMPENSATED::PHASE3_EVENT_RECEIVED::PHASE4_SYNC_GATE_PASSED::PHASE5_LOOP_ELSE_1::PHASE5_LOOP_IF_2::PHASE5_LOOP_ELSE_3::PHASE6_END';
export const GOLDEN_V2_EXPECTED = GOLDEN_V1_EXPECTED;
export const GOLDEN_DR_EXPECTED = [
  '--- FINAL VERIFIABLE OUTPUT ---',
  'WORKFLOW_START',
  '::BRANCH_A_SUCCESS',
  '::BRANCH_B_COMPENSATION_SUCCESS',
  '::BRANCH_C_EVENT_RECEIVED',
  '::SYNC_GATE_PASSED',
  'Processing file_A.log...',
  'Validating file_A.log...',
  'Processing file_B.log...',
  'Validating file_B.log...',
  '::SWITCH_CASE_ANIMALS',
  '::SWITCH_JOINED',
  'While loop iteration 0',
  'While loop iteration 1',
  '::WORKFLOW_END',
].join('\n');

type StageSpec = [refId: string, name: string, task: string, requisites: string[], context?: Record<string, unknown>];

function goldenWorkflow(application: string, name: string, specs: StageSpec[]): Workflow {
  return Workflow.create({
    application,
    name,
    stages: specs.map(
      ([refId, stageName, task, requisites, context]) =>
        new StageExecution({ refId, type: task, name: stageName, requisiteStageRefIds: requisites, context: context ?? {}, tasks: [TaskExecution.create({ name: task, implementingClass: task, stageStart: true, stageEnd: true })] }),
    ),
  });
}

const V1_SHAPE = (p: string): StageSpec[] => [
  ['1', 'Phase 1: Setup', `${p}setup`, []],
  ['2a', 'Branch A: Retry', `${p}retry`, ['1']],
  ['2b', 'Branch B: Timeout', `${p}timeout`, ['1'], { continuePipelineOnFailure: true }],
  ['2b_comp', 'Branch B: Compensation', `${p}compensation`, ['2b']],
  ['2c', 'Branch C: Event Emitter', `${p}event_emitter`, ['1']],
  ['2d', 'Branch D: Event Receiver', `${p}event_receiver`, ['2c']],
  ['4', 'Phase 4: Join Gate', `${p}join_gate`, ['2a', '2b_comp', '2d']],
  ['5a', 'Phase 5: Loop Iteration 1', `${p}loop_iteration`, ['4'], { counter: 1 }],
  ['5b', 'Phase 5: Loop Iteration 2', `${p}loop_iteration`, ['5a'], { counter: 2 }],
  ['5c', 'Phase 5: Loop Iteration 3', `${p}loop_iteration`, ['5b'], { counter: 3 }],
  ['6', 'Phase 6: Finalize', `${p}finalize`, ['5c']],
];

const loopToken = (counter: number) => (counter === 2 ? 'PHASE5_LOOP_IF_2' : `PHASE5_LOOP_ELSE_${counter}`);

/** Golden v1: tokens flow as outputs; the finalize stage reads them from its merged context. */
function registerV1(registry: TaskRegistry): void {
  const attempts = new Map<string, number>();
  const ok = (outputs: Record<string, unknown>) => () => TaskResult.success({ outputs });
  registry.register('gs_setup', ok({ phase1_token: 'PHASE1_SETUP' }));
  registry.register('gs_retry', (stage) => {
    const n = (attempts.get(stage.id) ?? 0) + 1;
    attempts.set(stage.id, n);
    return n === 1 ? TaskResult.running({ context: { retry_attempt: 1 } }) : TaskResult.success({ outputs: { phase2a_token: 'PHASE2A_RETRY_SUCCESS' } });
  });
  registry.register('gs_timeout', () => TaskResult.failedContinue('Task timed out', { outputs: { phase2b_timed_out: true } }));
  registry.register('gs_compensation', ok({ phase2b_token: 'PHASE2B_TIMEOUT_COMPENSATED' }));
  registry.register('gs_event_emitter', ok({ event_emitted: true }));
  registry.register('gs_event_receiver', ok({ phase3_token: 'PHASE3_EVENT_RECEIVED' }));
  registry.register('gs_join_gate', ok({ phase4_token: 'PHASE4_SYNC_GATE_PASSED' }));
  registry.register('gs_loop_iteration', (stage) => {
    const counter = stage.context.counter as number;
    return TaskResult.success({ outputs: { [`loop${counter}_token`]: loopToken(counter) } });
  });
  registry.register('gs_finalize', (stage) => {
    const keys = ['phase1_token', 'phase2a_token', 'phase2b_token', 'phase3_token', 'phase4_token', 'loop1_token', 'loop2_token', 'loop3_token'];
    const tokens = keys.map((k) => (typeof stage.context[k] === 'string' ? (stage.context[k] as string) : `MISSING_${k.toUpperCase()}`));
    return TaskResult.success({ outputs: { final_result: [...tokens, 'PHASE6_END'].join('::') } });
  });
}

/** Golden v2 and DR: each task appends to a file, so the file proves order and exactly-once. */
function registerFileTasks(registry: TaskRegistry, prefix: string, file: string, dr: boolean): void {
  const append = (text: string) => appendFileSync(file, text);
  let retryRuns = 0;
  let emitterRuns = 0;
  const simple = (name: string, body: (stage: StageExecution) => Record<string, unknown> | undefined) =>
    registry.register(`${prefix}${name}`, (stage) => TaskResult.success({ outputs: body(stage) ?? {} }));
  simple('setup', () => {
    writeFileSync(file, dr ? '--- FINAL VERIFIABLE OUTPUT ---\nWORKFLOW_START' : 'PHASE1_SETUP');
    return { output_file: file };
  });
  const retry: RetryableTask = {
    getTimeout: () => 30_000,
    getBackoffPeriod: () => 200,
    execute: () => {
      if (++retryRuns === 1) return TaskResult.running();
      append(dr ? '\n::BRANCH_A_SUCCESS' : '::PHASE2A_RETRY_SUCCESS');
      return TaskResult.success();
    },
  };
  registry.register(`${prefix}retry`, retry);
  const timeout: RetryableTask & Task = {
    getTimeout: () => 300,
    getBackoffPeriod: () => 50,
    execute: () => TaskResult.running(),
    onTimeout: () => TaskResult.failedContinue('Task timed out as expected', { outputs: { timeout_occurred: true } }),
  };
  registry.register(`${prefix}timeout`, timeout);
  simple('compensation', (stage) => {
    const ok = stage.context.timeout_occurred === true;
    append(dr ? (ok ? '\n::BRANCH_B_COMPENSATION_SUCCESS' : '\n::ERROR_NO_TIMEOUT') : ok ? '::PHASE2B_TIMEOUT_COMPENSATED' : '::ERROR_NO_TIMEOUT');
    return undefined;
  });
  const emitter: RetryableTask = {
    getTimeout: () => 30_000,
    getBackoffPeriod: () => 500,
    execute: () => (++emitterRuns === 1 ? TaskResult.running() : TaskResult.success({ outputs: { event_payload: 'EVENT_DATA_12345' } })),
  };
  registry.register(`${prefix}event_emitter`, emitter);
  simple('event_receiver', (stage) => {
    const payload = stage.context.event_payload;
    if (dr) append(payload === 'EVENT_DATA_12345' ? '\n::BRANCH_C_EVENT_RECEIVED' : `\n::ERROR_NO_EVENT_${String(payload)}`);
    else append(payload === 'EVENT_DATA_12345' ? '::PHASE3_EVENT_RECEIVED' : `::ERROR_NO_EVENT_${String(payload)}`);
    return undefined;
  });
  simple(dr ? 'sync_gate' : 'join_gate', () => void append(dr ? '\n::SYNC_GATE_PASSED' : '::PHASE4_SYNC_GATE_PASSED'));
  simple('loop_iteration', (stage) => void append(`::${loopToken(stage.context.counter as number)}`));
  simple('foreach_process', (stage) => void append(`\nProcessing ${String(stage.context.item)}...`));
  simple('foreach_validate', (stage) => void append(`\nValidating ${String(stage.context.item)}...`));
  simple('switch', () => void append('\n::SWITCH_CASE_ANIMALS'));
  simple('switch_join', () => void append('\n::SWITCH_JOINED'));
  simple('while_loop', (stage) => void append(`\nWhile loop iteration ${String(stage.context.counter)}`));
  simple('finalize', () => {
    append(dr ? '\n::WORKFLOW_END' : '::PHASE6_END');
    return { final_result: readFileSync(file, 'utf8').trim() };
  });
}

const DR_SHAPE: StageSpec[] = [
  ['1', 'Phase 1: Setup', 'dr_setup', []],
  ['2a', 'Branch A: Retry', 'dr_retry', ['1']],
  ['2b', 'Branch B: Timeout', 'dr_timeout', ['1'], { continuePipelineOnFailure: true }],
  ['2b_comp', 'Branch B: Compensation', 'dr_compensation', ['2b']],
  ['2c', 'Branch C: Event Emitter', 'dr_event_emitter', ['1']],
  ['2d', 'Branch C: Event Receiver', 'dr_event_receiver', ['2c']],
  ['4', 'Phase 4: Sync Gate', 'dr_sync_gate', ['2a', '2b_comp', '2d']],
  ['5a', 'Foreach: Process file_A.log', 'dr_foreach_process', ['4'], { item: 'file_A.log' }],
  ['5b', 'Foreach: Validate file_A.log', 'dr_foreach_validate', ['5a'], { item: 'file_A.log' }],
  ['5c', 'Foreach: Process file_B.log', 'dr_foreach_process', ['5b'], { item: 'file_B.log' }],
  ['5d', 'Foreach: Validate file_B.log', 'dr_foreach_validate', ['5c'], { item: 'file_B.log' }],
  ['6', 'Phase 6: Switch on Category', 'dr_switch', ['5d']],
  ['6_join', 'Phase 6: Switch Join', 'dr_switch_join', ['6']],
  ['7a', 'Phase 7: While Loop Iteration 0', 'dr_while_loop', ['6_join'], { counter: 0 }],
  ['7b', 'Phase 7: While Loop Iteration 1', 'dr_while_loop', ['7a'], { counter: 1 }],
  ['8', 'Phase 8: Finalize', 'dr_finalize', ['7b']],
];

type Golden = { name: string; build: () => Workflow; register: (registry: TaskRegistry, file: string) => void; expected: string; finalRef: string; files: boolean };

const GOLDENS: Golden[] = [
  { name: 'v1 (Golden Standard Pipeline)', build: () => goldenWorkflow('golden-standard-test', 'Golden Standard Pipeline', V1_SHAPE('gs_')), register: (r) => registerV1(r), expected: GOLDEN_V1_EXPECTED, finalRef: '6', files: false },
  { name: 'V2 (file-based)', build: () => goldenWorkflow('golden-standard-v2', 'V2 Golden Standard Workflow', V1_SHAPE('v2_')), register: (r, f) => registerFileTasks(r, 'v2_', f, false), expected: GOLDEN_V2_EXPECTED, finalRef: '6', files: true },
  { name: 'Disaster Recovery', build: () => goldenWorkflow('golden-standard-disaster-recovery', 'Disaster Recovery Golden Standard Workflow', DR_SHAPE), register: (r, f) => registerFileTasks(r, 'dr_', f, true), expected: GOLDEN_DR_EXPECTED, finalRef: '8', files: true },
];

export function goldenScenarios(factory: BackendFactory): void {
  const runGolden = async (golden: Golden, clock: Clock, concurrent: boolean) => {
    const dir = mkdtempSync(join(tmpdir(), 'stabilize-golden-'));
    const backend = await factory.create(clock);
    const registry = new TaskRegistry();
    golden.register(registry, join(dir, 'output.txt'));
    const processor = new QueueProcessor(backend.queue, { store: backend.store, taskRegistry: registry, clock, maxWorkers: concurrent ? 4 : 1, idlePollMs: 50 });
    try {
      const workflow = golden.build();
      await backend.store.store(workflow);
      await new Orchestrator(backend.queue).start(workflow);
      if (concurrent) {
        processor.start();
        await eventually(async () => {
          const { status } = await backend.store.retrieveWorkflowOnly(workflow.id);
          return status !== WorkflowStatus.RUNNING && status !== WorkflowStatus.NOT_STARTED;
        }, 20_000);
        await processor.stop();
      } else {
        await processor.processAll({ timeoutMs: 30_000 });
      }
      const result = await backend.store.retrieve(workflow.id);
      expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
      const final = result.stages.find((s) => s.refId === golden.finalRef)!.outputs.final_result as string;
      expect(final.trim()).toBe(golden.expected);
      if (golden.files) expect(result.stages.find((s) => s.refId === '2b')!.status).toBe(WorkflowStatus.FAILED_CONTINUE);
      const tokens = final.split(/::|\n/).filter(Boolean);
      expect(new Set(tokens).size).toBe(tokens.length);
    } finally {
      await processor.stop();
      await backend.close();
      rmSync(dir, { recursive: true, force: true });
    }
  };

  describe('Golden-standard workflows', () => {
    for (const golden of GOLDENS) {
      it(`${golden.name}: synchronous drain`, () => runGolden(golden, new ManualClock(), false));
      it(`${golden.name}: concurrent worker, real time`, () => runGolden(golden, systemClock, true), 30_000);
    }
  });
}
