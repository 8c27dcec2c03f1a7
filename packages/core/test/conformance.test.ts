import { createInMemoryBackend, CorruptRowError, InMemoryEventStore, InMemoryWorkflowStore, isWorkflowStatus, type StageExecution, type Workflow } from '../src/index.js';
import type { CorruptionTarget } from '../src/testing/index.js';
import { runConformanceSuite } from '../src/testing/index.js';

/**
 * The in-memory store keeps objects, not encoded rows, so it has nothing to decode. For the
 * corruption scenarios this subclass checks what it hands out the way the SQL stores' row decoders
 * do (status names, JSON objects) and raises the same CorruptRowError.
 */
class CheckedInMemoryStore extends InMemoryWorkflowStore {
  private static object(value: unknown): boolean {
    return value !== null && typeof value === 'object' && !Array.isArray(value);
  }

  private checkWorkflow<T extends Workflow>(w: T): T {
    const fail = (column: string, problem: string) => new CorruptRowError({ table: 'pipeline_executions', rowId: w.id, workflowId: w.id, column }, problem);
    if (!isWorkflowStatus(w.status)) throw fail('status', `Unknown value '${String(w.status)}'`);
    const row = this.db.workflows.get(w.id) ?? w; // the model normalizes `trigger`: look at what is stored
    for (const column of ['context', 'trigger'] as const) if (!CheckedInMemoryStore.object(row[column])) throw fail(column, 'malformed JSON');
    for (const stage of w.stages) this.checkStage(stage);
    return w;
  }

  private checkStage(s: Pick<StageExecution, 'id' | 'executionId' | 'status' | 'context' | 'outputs'> & { tasks?: StageExecution['tasks'] }, workflowId = s.executionId): void {
    const fail = (column: string, problem: string) => new CorruptRowError({ table: 'stage_executions', rowId: s.id, workflowId, column }, problem);
    if (!isWorkflowStatus(s.status)) throw fail('status', `Unknown value '${String(s.status)}'`);
    for (const column of ['context', 'outputs'] as const) if (!CheckedInMemoryStore.object(s[column])) throw fail(column, 'malformed JSON');
    for (const t of s.tasks ?? []) {
      if (!isWorkflowStatus(t.status)) throw new CorruptRowError({ table: 'task_executions', rowId: t.id, workflowId, column: 'status' }, `Unknown value '${String(t.status)}'`);
    }
  }

  override async retrieve(id: string) {
    return this.checkWorkflow(await super.retrieve(id));
  }
  override async retrieveWorkflowOnly(id: string) {
    return this.checkWorkflow(await super.retrieveWorkflowOnly(id));
  }
  override async listWorkflows(query: Parameters<InMemoryWorkflowStore['listWorkflows']>[0]) {
    return (await super.listWorkflows(query)).map((w) => this.checkWorkflow(w));
  }
  override async retrieveStage(id: string) {
    const stage = await super.retrieveStage(id);
    this.checkStage(stage);
    return stage;
  }
  override async retrieveStagesByRefIds(workflowId: string, refIds: readonly string[]) {
    return this.checked(await super.retrieveStagesByRefIds(workflowId, refIds));
  }
  override async retrieveDownstreamStages(workflowId: string, refId: string) {
    return this.checked(await super.retrieveDownstreamStages(workflowId, refId));
  }
  override async retrieveSyntheticStages(parentStageId: string) {
    return this.checked(await super.retrieveSyntheticStages(parentStageId));
  }
  override async retrieveStageSummaries(workflowId: string) {
    const summaries = await super.retrieveStageSummaries(workflowId);
    for (const s of summaries) this.checkStage({ ...s, executionId: workflowId });
    return summaries;
  }
  private checked(stages: StageExecution[]): StageExecution[] {
    for (const s of stages) this.checkStage(s);
    return stages;
  }

  /** Writes the bad value into the shared in-memory "rows", past every check. */
  corrupt(target: CorruptionTarget): void {
    const db = this.db;
    const bad = (column: string) => (column === 'status' ? 'BOGUS_STATUS' : '{not json');
    switch (target.kind) {
      case 'workflow':
        Object.assign(db.workflows.get(target.workflowId)!, { [target.column]: bad(target.column) });
        return;
      case 'stage':
        Object.assign(db.stages.get(target.stageId)!, { [target.column]: bad(target.column) });
        return;
      case 'task':
        for (const stage of db.stages.values()) for (const task of stage.tasks) if (task.id === target.taskId) Object.assign(task, { status: bad('status') });
        return;
      case 'message':
        for (const row of db.rows.values()) {
          if ((row.message as { executionId?: string }).executionId !== target.workflowId) continue;
          row.message = (target.problem === 'malformed' ? '{not json' : { ...row.message, type: 'NoSuchMessage' }) as unknown as typeof row.message;
        }
    }
  }
}

runConformanceSuite({
  name: 'in-memory',
  async create(clock) {
    const { queue } = createInMemoryBackend({ clock });
    const store = new CheckedInMemoryStore(queue);
    return { store, queue, events: new InMemoryEventStore(store), close: async () => {}, corrupt: async (target) => store.corrupt(target) };
  },
});
