// The monitor's data layer: bounded, incremental queries over a store and a queue, and the
// operator actions. Store-agnostic (SQLite, PostgreSQL, in-memory); no React here.
import { isComplete, Orchestrator, type Queue, type QueueStats, type StageExecution, type StageSummary, type Workflow, WorkflowStatus, type WorkflowStore } from '@stabilize/core';

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

/** Queue counts (`Queue.stats()`): ready, delayed, processing (leased) and dead letters. */
export type { QueueStats } from '@stabilize/core';
/** Workflows per status in the whole database (or the filtered application). */
export type StatusCounts = Partial<Record<WorkflowStatus, number>>;

/** Running and failed (CANCELED and STOPPED included) totals of a status count. */
export function statusTotals(counts: StatusCounts): { total: number; running: number; failed: number } {
  let total = 0;
  let failed = 0;
  for (const [status, n] of Object.entries(counts) as Array<[WorkflowStatus, number]>) {
    total += n;
    if (FAILED_STATUSES.includes(status)) failed += n;
  }
  return { total, running: counts[WorkflowStatus.RUNNING] ?? 0, failed };
}

export interface Snapshot {
  workflows: WorkflowRow[];
  /** All queued messages: ready + delayed + processing. */
  queueDepth: number;
  deadLetters: number;
  queue: QueueStats;
  /**
   * Workflows per status in the whole database, or in the application filtered on (not limited to
   * the rows on screen; the status and text filters do not apply). May be one refresh old while the
   * details pane is open; null until first read for the current application filter.
   */
  statusCounts: StatusCounts | null;
  fetchedAt: number;
  /** The expanded workflow with its stages and tasks, when one was asked for. */
  detail?: Workflow | null;
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

interface Progress {
  key: string;
  done: number;
  total: number;
  error: string | null;
}

const progressKey = (w: Workflow) => `${w.status}:${w.endTime}`;

function summarise(key: string, summaries: readonly StageSummary[]): Progress {
  const top = summaries.filter((s) => s.parentStageId === null);
  let error: string | null = null;
  for (const s of top) {
    if (error === null && (FAILED_STATUSES as string[]).includes(s.status)) error = contextError(s.context);
  }
  return { key, done: top.filter((s) => DONE.has(s.status)).length, total: top.length, error };
}

/**
 * Polls the store with at most three store queries per refresh, bounded by what is on screen:
 * `listWorkflows` (newest first, limited to the rows that fit), one batched
 * `retrieveStageSummariesFor` for the rows whose progress is not cached (finished workflows whose
 * row did not change are not re-read; the call is skipped when nothing needs it), one grouped
 * `countWorkflowsByStatus` for the whole-database counts, and `retrieve` for the expanded workflow.
 * With the details pane open, `retrieve` takes one of the three places, so the summaries and the
 * counts share the last one: the summaries run when a row on screen has never been summarised
 * (unless the counts were already skipped twice in a row), otherwise the two alternate, so the
 * counts and the progress of running rows are at most one refresh old. The queue is one
 * `queue.stats()` call.
 */
export class MonitorData {
  private readonly orchestrator: Orchestrator;
  private progress = new Map<string, Progress>();
  private counts: { application: string; counts: StatusCounts } | null = null;
  /** Refreshes in a row that skipped the counts query (only while the pane is open). */
  private countsSkipped = 0;

  constructor(
    readonly backend: MonitorBackend,
    private readonly now: () => number = Date.now,
  ) {
    this.orchestrator = new Orchestrator(backend.queue, { store: backend.store });
  }

  async snapshot(filter: Filter, limit: number, expandedId: string | null = null): Promise<Snapshot> {
    const statuses = filter.status === 'running' ? [...RUNNING_STATUSES] : filter.status === 'failed' ? [...FAILED_STATUSES] : undefined;
    // Text filtering happens here, so fetch a few more rows than fit when it is on.
    const fetchLimit = filter.text ? limit * 4 : limit;
    let workflows = await this.backend.store.listWorkflows({
      ...(statuses ? { statuses } : {}),
      ...(filter.application ? { application: filter.application } : {}),
      ...(filter.status === 'recent' ? { startedAfter: this.now() - 60 * 60_000 } : {}),
      order: 'desc',
      limit: fetchLimit,
    });
    if (filter.status === 'recent') workflows = workflows.filter((w) => w.endTime !== null).sort((a, b) => (b.endTime ?? 0) - (a.endTime ?? 0));
    if (filter.text) {
      const t = filter.text.toLowerCase();
      workflows = workflows.filter((w) => `${w.id} ${w.application} ${w.name} ${w.status}`.toLowerCase().includes(t));
    }
    workflows = workflows.slice(0, limit);
    const stale = workflows.filter((w) => {
      const p = this.progress.get(w.id);
      return !p || p.key !== progressKey(w) || !isComplete(w.status);
    });
    // The query budget: listWorkflows above, `retrieve` when the pane is open, and the rest.
    const cached = this.counts !== null && this.counts.application === filter.application ? this.counts.counts : null;
    let readSummaries = stale.length > 0;
    let readCounts = true;
    if (expandedId && readSummaries) {
      const unseen = stale.some((w) => !this.progress.has(w.id));
      readCounts = unseen ? this.countsSkipped >= 2 : cached === null || this.countsSkipped >= 1;
      readSummaries = !readCounts;
    }
    this.countsSkipped = readCounts ? 0 : this.countsSkipped + 1;
    const [fresh, counts, detail, queue] = await Promise.all([
      readSummaries ? this.backend.store.retrieveStageSummariesFor(stale.map((w) => w.id)) : Promise.resolve(new Map<string, StageSummary[]>()),
      readCounts ? this.backend.store.countWorkflowsByStatus(filter.application ? { application: filter.application } : {}) : Promise.resolve(cached),
      expandedId ? this.backend.store.retrieve(expandedId) : Promise.resolve(undefined),
      this.backend.queue.stats(),
    ]);
    if (readCounts && counts) this.counts = { application: filter.application, counts };
    // Keep the cache to the rows on screen, so it stays bounded.
    const progress = new Map<string, Progress>();
    for (const w of workflows) {
      const summaries = fresh.get(w.id);
      const p = summaries ? summarise(progressKey(w), summaries) : this.progress.get(w.id);
      if (p) progress.set(w.id, p);
    }
    this.progress = progress;
    const rows = workflows.map((w): WorkflowRow => {
      const p = progress.get(w.id) ?? { key: '', done: 0, total: 0, error: null };
      return { id: w.id, application: w.application, name: w.name, status: w.status, startTime: w.startTime, endTime: w.endTime, stagesDone: p.done, stagesTotal: p.total, error: p.error };
    });
    return {
      workflows: rows,
      queueDepth: queue.ready + queue.delayed + queue.processing,
      deadLetters: queue.deadLetters,
      queue,
      statusCounts: counts,
      fetchedAt: this.now(),
      ...(detail ? { detail } : {}),
    };
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
