// Corrupt or hand-edited rows (issue 11): a bad value written straight into a backend's storage
// raises CorruptRowError naming table, row, workflow and column; the workflow it belongs to ends
// TERMINAL, the message that met it goes to the dead letters at once (no retries), and the other
// workflows run to completion. Registered for every backend whose factory can `corrupt`.
import { describe, expect, it } from 'vitest';
import { CorruptRowError } from '../errors.js';
import type { Logger } from '../handlers/deps.js';
import { WorkflowStatus } from '../model/status.js';
import { Workflow } from '../model/workflow.js';
import { WorkflowRecovery } from '../recovery.js';
import type { DeadLetter } from '../store/interfaces.js';
import type { BackendFactory, CorruptionTarget } from './backend.js';
import { createHarness, type Harness, S } from './harness.js';

interface Outcome {
  h: Harness;
  victim: Workflow;
  bystander: Workflow;
  letters: DeadLetter[];
  /** Fields of the processor's 'Corrupt data' log records. */
  logged: Array<Record<string, unknown>>;
}

const wf = (name: string) => Workflow.create({ application: `corruption-${name}`, name, stages: [S('a', ['success']), S('b', ['success'], ['a']), S('c', ['success'], ['b'])] });

/**
 * Starts a victim and a bystander workflow, spoils the victim with `target(victim)` (before any
 * message ran, or once stage `a` succeeded when `midRun`), drains, and reports what happened.
 */
async function scenario(factory: BackendFactory, target: (victim: Workflow) => CorruptionTarget, options: { midRun?: boolean } = {}, check: (o: Outcome) => Promise<void> = async () => {}): Promise<void> {
  const h = await createHarness(factory);
  try {
    if (!h.corrupt) throw new Error(`${factory.name}: the backend has no corrupt hook; set providesCorruption: false on its factory`);
    const logged: Array<Record<string, unknown>> = [];
    const logger: Logger = { debug() {}, info() {}, warn() {}, error: (message, fields = {}) => void (message.startsWith('Corrupt data') && logged.push(fields)) };
    const processor = h.newProcessor({ logger, retryDelayMs: 10 });
    const victim = wf('victim');
    const bystander = wf('bystander');
    await h.orchestrator.start(victim);
    if (options.midRun) {
      const a = victim.stageByRefId('a')!.id;
      for (let i = 0; i < 100 && (await h.store.retrieveStage(a)).status !== WorkflowStatus.SUCCEEDED; i++) await processor.processOne();
      expect((await h.store.retrieveStage(a)).status).toBe(WorkflowStatus.SUCCEEDED);
    }
    await h.orchestrator.start(bystander);
    await h.corrupt(target(victim));
    await processor.processAll({ timeoutMs: 20_000 }); // never rethrows a corrupt row: nothing to retry

    const done = await h.store.retrieve(bystander.id);
    expect(done.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(done.stages.map((s) => s.status)).toEqual([WorkflowStatus.SUCCEEDED, WorkflowStatus.SUCCEEDED, WorkflowStatus.SUCCEEDED]);
    expect(await h.queue.size()).toBe(0);
    const letters = await h.queue.listDeadLetters();
    for (const letter of letters) expect(letter.attempts).toBeLessThanOrEqual(1); // dead-lettered on (or before) its first delivery
    await check({ h, victim, bystander, letters, logged });
  } finally {
    await h.close();
  }
}

/** The victim's stored status, read without decoding its (possibly corrupt) row. */
async function victimStatus(h: Harness): Promise<WorkflowStatus | null> {
  for (const status of Object.values(WorkflowStatus)) {
    if ((await h.store.countWorkflows({ application: 'corruption-victim', statuses: [status] })) > 0) return status;
  }
  return null;
}

const location = (table: string, rowId: string, workflowId: string, column: string) =>
  `CorruptRowError: Corrupt row: ${table} row ${rowId} of workflow ${workflowId} (column ${column}): `;

/** The exact outcome of a corrupt state row: one dead letter naming it, the victim TERMINAL. */
async function expectRowOutcome(o: Outcome, read: () => Promise<unknown>, table: string, rowId: string, column: string): Promise<void> {
  const { h, victim, letters, logged } = o;
  const error = await read().then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CorruptRowError);
  expect(error).toMatchObject({ code: 'CORRUPT_ROW', table, rowId, workflowId: victim.id, column });
  expect(letters).toHaveLength(1);
  expect(letters[0]!.error.startsWith(location(table, rowId, victim.id, column))).toBe(true);
  expect(letters[0]!.message).not.toBeNull(); // the message itself was fine: it can be replayed after a repair
  expect(logged).toHaveLength(1);
  expect(logged[0]).toMatchObject({ table, rowId, column, workflowId: victim.id, markedTerminal: true });
  expect(await victimStatus(h)).toBe(WorkflowStatus.TERMINAL);
}

export function corruptionScenarios(factory: BackendFactory): void {
  describe('Corrupt rows', () => {
    it('malformed JSON in a stage context: CorruptRowError, workflow TERMINAL, message dead-lettered, others finish', async () => {
      await scenario(
        factory,
        (v) => ({ kind: 'stage', stageId: v.stageByRefId('b')!.id, column: 'context' }),
        {},
        async (o) => {
          const b = o.victim.stageByRefId('b')!.id;
          await expectRowOutcome(o, () => o.h.store.retrieveStage(b), 'stage_executions', b, 'context');
          expect(o.letters[0]!.messageType).toBe('StartWorkflow');
        },
      );
    });

    it('malformed JSON in a stage context met mid-run: the stage never runs, the workflow ends TERMINAL', async () => {
      await scenario(
        factory,
        (v) => ({ kind: 'stage', stageId: v.stageByRefId('b')!.id, column: 'context' }),
        { midRun: true },
        async (o) => {
          const b = o.victim.stageByRefId('b')!.id;
          await expectRowOutcome(o, () => o.h.store.retrieveStage(b), 'stage_executions', b, 'context');
          expect(o.h.executions.filter((ref) => ref === 'b')).toHaveLength(1); // only the bystander's b ran
        },
      );
    });

    it('malformed JSON in a stage outputs', async () => {
      await scenario(
        factory,
        (v) => ({ kind: 'stage', stageId: v.stageByRefId('a')!.id, column: 'outputs' }),
        {},
        async (o) => {
          const a = o.victim.stageByRefId('a')!.id;
          await expectRowOutcome(o, () => o.h.store.retrieveStage(a), 'stage_executions', a, 'outputs');
        },
      );
    });

    it('an unknown stage status', async () => {
      await scenario(
        factory,
        (v) => ({ kind: 'stage', stageId: v.stageByRefId('c')!.id, column: 'status' }),
        {},
        async (o) => {
          const c = o.victim.stageByRefId('c')!.id;
          await expectRowOutcome(o, () => o.h.store.retrieveStage(c), 'stage_executions', c, 'status');
          expect(o.letters[0]!.error).toContain("Unknown value 'BOGUS_STATUS'");
        },
      );
    });

    it('an unknown task status', async () => {
      await scenario(
        factory,
        (v) => ({ kind: 'task', taskId: v.stageByRefId('a')!.tasks[0]!.id, column: 'status' }),
        {},
        async (o) => {
          const a = o.victim.stageByRefId('a')!;
          await expectRowOutcome(o, () => o.h.store.retrieveStage(a.id), 'task_executions', a.tasks[0]!.id, 'status');
        },
      );
    });

    it("malformed JSON in a workflow's context", async () => {
      await scenario(
        factory,
        (v) => ({ kind: 'workflow', workflowId: v.id, column: 'context' }),
        {},
        async (o) => {
          await expectRowOutcome(o, () => o.h.store.retrieveWorkflowOnly(o.victim.id), 'pipeline_executions', o.victim.id, 'context');
        },
      );
    });

    it("malformed JSON in a workflow's trigger", async () => {
      await scenario(
        factory,
        (v) => ({ kind: 'workflow', workflowId: v.id, column: 'trigger' }),
        {},
        async (o) => {
          await expectRowOutcome(o, () => o.h.store.retrieveWorkflowOnly(o.victim.id), 'pipeline_executions', o.victim.id, 'trigger');
        },
      );
    });

    it('an unknown workflow status: marking the workflow TERMINAL replaces it', async () => {
      await scenario(
        factory,
        (v) => ({ kind: 'workflow', workflowId: v.id, column: 'status' }),
        {},
        async (o) => {
          expect(o.letters).toHaveLength(1);
          expect(o.letters[0]!.error.startsWith(location('pipeline_executions', o.victim.id, o.victim.id, 'status'))).toBe(true);
          expect(o.logged).toEqual([expect.objectContaining({ table: 'pipeline_executions', column: 'status', workflowId: o.victim.id, markedTerminal: true })]);
          const victim = await o.h.store.retrieveWorkflowOnly(o.victim.id);
          expect(victim.status).toBe(WorkflowStatus.TERMINAL);
          expect(victim.endTime).not.toBeNull();
        },
      );
    });

    it('an unknown message type: dead-lettered on first delivery, its workflow TERMINAL', async () => {
      await scenario(
        factory,
        (v) => ({ kind: 'message', workflowId: v.id, problem: 'unknown-type' }),
        {},
        async (o) => {
          expect(o.letters).toHaveLength(1);
          expect(o.letters[0]!.messageType).toBe('NoSuchMessage');
          expect(o.letters[0]!.error).toMatch(new RegExp(`^CorruptRowError: Corrupt row: queue_messages row \\S+ of workflow ${o.victim.id} \\(column payload\\): Unknown message type "NoSuchMessage"$`));
          expect(o.logged).toEqual([expect.objectContaining({ table: 'queue_messages', column: 'payload', workflowId: o.victim.id, markedTerminal: true })]);
          expect((await o.h.store.retrieveWorkflowOnly(o.victim.id)).status).toBe(WorkflowStatus.TERMINAL);
        },
      );
    });

    it('a recovery sweep meeting a corrupt workflow row marks it TERMINAL and recovers the others', async () => {
      const h = await createHarness(factory);
      try {
        if (!h.corrupt) throw new Error(`${factory.name}: the backend has no corrupt hook; set providesCorruption: false on its factory`);
        // Two running workflows whose worker died after stage `a`: the StartStage of `b` is gone.
        const victim = wf('victim');
        const bystander = wf('bystander');
        for (const w of [victim, bystander]) {
          w.status = WorkflowStatus.RUNNING;
          w.startTime = h.clock.now();
          w.stageByRefId('a')!.status = WorkflowStatus.SUCCEEDED;
          await h.store.store(w);
        }
        await h.corrupt({ kind: 'workflow', workflowId: victim.id, column: 'context' });
        const results = await new WorkflowRecovery(h.store, h.queue, { clock: h.clock }).recoverPendingWorkflows();
        const byId = new Map(results.map((r) => [r.workflowId, r]));
        expect(byId.get(victim.id)?.status).toBe('failed');
        expect(byId.get(victim.id)?.message).toMatch(new RegExp(`^Corrupt row: pipeline_executions row ${victim.id} of workflow ${victim.id} \\(column context\\): .*; the workflow was marked TERMINAL$`));
        expect(byId.get(bystander.id)).toMatchObject({ status: 'recovered', stagesRequeued: 1 });
        expect(await h.store.countWorkflows({ application: 'corruption-victim', statuses: [WorkflowStatus.TERMINAL] })).toBe(1);
        await h.processor.processAll({ timeoutMs: 20_000 });
        expect((await h.store.retrieveWorkflowOnly(bystander.id)).status).toBe(WorkflowStatus.SUCCEEDED);
      } finally {
        await h.close();
      }
    });

    it('a malformed message payload: dead-lettered at once; it names no workflow, so none is marked', async () => {
      await scenario(
        factory,
        (v) => ({ kind: 'message', workflowId: v.id, problem: 'malformed' }),
        {},
        async (o) => {
          expect(o.letters).toHaveLength(1);
          const message = o.letters[0]!.message as unknown;
          expect(message === null || typeof message !== 'object' || typeof (message as { type?: unknown }).type !== 'string').toBe(true);
          expect(o.letters[0]!.error).toMatch(/^CorruptRowError: Corrupt row: queue_messages row \S+ \(column payload\): /);
          // The victim's only message was its StartWorkflow: it stays NOT_STARTED for an operator.
          expect((await o.h.store.retrieveWorkflowOnly(o.victim.id)).status).toBe(WorkflowStatus.NOT_STARTED);
        },
      );
    });
  });
}
