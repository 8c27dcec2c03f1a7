// The monitor's data layer: bounded, incremental queries over a store and a queue, and the
// operator actions. Store-agnostic (SQLite, PostgreSQL, in-memory); no React here.
import { isComplete, Orchestrator, type Queue, type StageExecution, type Workflow, WorkflowStatus, type WorkflowStore } from '@stabilize/core';

export type StatusFilter = 'all' | 'running' | 'failed' | 'recent';
export const STATUS_FILTERS: readonly StatusFilter[] = ['all', 'running', 'failed', 'recent'];

/** Statuses counted as failed (CANCELED included). */
export const FAILED_STATUSES: readonly WorkflowStatus[] = [WorkflowStatus.TERMINAL, WorkflowStatus.FAILED_CONTINUE, WorkflowStatus.CANCELED, WorkflowStatus.STOPPED];
const RUNNING_STATUSES: readonly WorkflowStatus[] = [WorkflowStatus.RUNNING, WorkflowStatus.PAUSED, WorkflowStatus.SUSPENDED, WorkflowStatus.NOT_STARTED, WorkflowStatus.BUFFERED];

export interface Filter {
  status: StatusFilter;
  application: string;
  text: string;
}

export interface WorkflowRow {
  id: string;
  application: string;
  name: string;
  status: WorkflowStatus;
  startTime: number | null;
  endTime: number | null;
  stagesDone: number;
  stagesTotal: number;
  /** First error of a failed stage, if any. */
  error: string | null;
}

export interface Snapshot {
  workflows: WorkflowRow[];
  queueDepth: number;
  deadLetters: number;
  fetchedAt: number;
}

export interface MonitorBackend {
  store: WorkflowStore;
  queue: Queue;
}

const DONE = new Set<string>([WorkflowStatus.SUCCEEDED, WorkflowStatus.SKIPPED, WorkflowStatus.FAILED_CONTINUE, WorkflowStatus.TERMINAL, WorkflowStatus.CANCELED, WorkflowStatus.STOPPED]);

/** The error text of a stage context: `exception.details.error(s)`, else `error`. */
export function contextError(context: Record<string, unknown>): string | null {
  const ex = context.exception as { details?: { error?: unknown; errors?: unknown } } | string | undefined;
  if (typeof ex === 'string') return ex;
  if (ex && typeof ex.details?.error === 'string') return ex.details.error;
  if (ex && Array.isArray(ex.details?.errors) && typeof ex.details.errors[0] === 'string') return ex.details.errors[0];
  if (typeof context.error === 'string') return context.error;
  if (ex) return JSON.stringify(ex);
  return null;
}

/** The error of a stage: from its context, else a task's exception details. */
export function stageError(stage: Pick<StageExecution, 'context' | 'tasks'>): string | null {
  const fromContext = contextError(stage.context as Record<string, unknown>);
  if (fromContext !== null) return fromContext;
  for (const t of stage.tasks ?? []) {
    const d = t.taskExceptionDetails as Record<string, unknown> | undefined;
    if (d && Object.keys(d).length > 0) return typeof d.message === 'string' ? d.message : JSON.stringify(d);
  }
  return null;
}

/**
 * Polls the store: `listWorkflows` with a limit (never the whole database), stage summaries only
 * for the workflows on screen, re-read only when a workflow is not finished or its row changed.
 */
export class MonitorData {
  private readonly orchestrator: Orchestrator;
  private readonly progress = new Map<string, { key: string; done: number; total: number; error: string | null }>();

  constructor(
    readonly backend: MonitorBackend,
    private readonly now: () => number = Date.now,
  ) {
    this.orchestrator = new Orchestrator(backend.queue, { store: backend.store });
  }

  async snapshot(filter: Filter, limit: number): Promise<Snapshot> {
    const statuses = filter.status === 'running' ? [...RUNNING_STATUSES] : filter.status === 'failed' ? [...FAILED_STATUSES] : undefined;
    // Text filtering happens here, so fetch a few more rows than fit when it is on.
    const fetchLimit = filter.text ? limit * 4 : limit;
    let workflows = await this.backend.store.listWorkflows({
      ...(statuses ? { statuses } : {}),
      ...(filter.application ? { application: filter.application } : {}),
      ...(filter.status === 'recent' ? { startedAfter: this.now() - 60 * 60_000 } : {}),
      limit: fetchLimit,
    });
    if (filter.status === 'recent') workflows = workflows.filter((w) => w.endTime !== null).sort((a, b) => (b.endTime ?? 0) - (a.endTime ?? 0));
    if (filter.text) {
      const t = filter.text.toLowerCase();
      workflows = workflows.filter((w) => `${w.id} ${w.application} ${w.name} ${w.status}`.toLowerCase().includes(t));
    }
    workflows = workflows.slice(0, limit);
    const rows = await Promise.all(workflows.map((w) => this.row(w)));
    const [queueDepth, deadLetters] = await Promise.all([this.backend.queue.size(), this.backend.queue.deadLetterCount()]);
    return { workflows: rows, queueDepth, deadLetters, fetchedAt: this.now() };
  }

  private async row(w: Workflow): Promise<WorkflowRow> {
    const key = `${w.status}:${w.endTime}`;
    let p = this.progress.get(w.id);
    if (!p || p.key !== key || !isComplete(w.status)) {
      const summaries = await this.backend.store.retrieveStageSummaries(w.id);
      const top = summaries.filter((s) => s.parentStageId === null);
      let error: string | null = null;
      for (const s of top) {
        if (error === null && (FAILED_STATUSES as string[]).includes(s.status)) error = contextError(s.context);
      }
      p = { key, done: top.filter((s) => DONE.has(s.status)).length, total: top.length, error };
      this.progress.set(w.id, p);
    }
    return { id: w.id, application: w.application, name: w.name, status: w.status, startTime: w.startTime, endTime: w.endTime, stagesDone: p.done, stagesTotal: p.total, error: p.error };
  }

  /** The whole workflow (stages and tasks) of the expanded / followed row. */
  detail(id: string): Promise<Workflow> {
    return this.backend.store.retrieve(id);
  }

  async stageIdFor(workflowId: string, refOrId: string): Promise<string> {
    const stages = await this.backend.store.retrieveStageSummaries(workflowId);
    const s = stages.find((x) => x.id === refOrId) ?? stages.find((x) => x.refId === refOrId);
    if (!s) throw new Error(`No stage '${refOrId}' in workflow ${workflowId}`);
    return s.id;
  }

  cancel(id: string, user: string, reason: string): Promise<void> {
    return this.orchestrator.cancel(id, user, reason);
  }
  pause(id: string, user: string): Promise<void> {
    return this.orchestrator.pause(id, user);
  }
  resume(id: string): Promise<void> {
    return this.orchestrator.resume(id);
  }
  async restart(id: string, stage: string): Promise<void> {
    await this.orchestrator.restart(id, await this.stageIdFor(id, stage));
  }
  async signal(id: string, stage: string, name: string, data: Record<string, unknown> = {}): Promise<void> {
    await this.orchestrator.signal(id, await this.stageIdFor(id, stage), name, data);
  }
}
