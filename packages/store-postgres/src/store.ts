import { type StageExecution, type StageSummary, StageNotFoundError, Transaction, type Workflow, type WorkflowQuery, type WorkflowStatus, type WorkflowStore, WorkflowNotFoundError } from '@stabilize/core';
import { and, asc, count, desc, eq, gt, gte, inArray, isNull, lt, or, type SQL, sql as rawSql } from 'drizzle-orm';
import { PgDialect, QueryBuilder } from 'drizzle-orm/pg-core';
import { PgBackend, type PostgresOptions, statementName } from './backend.js';
import { commitTransaction } from './commit.js';
import { type StageRow, type SummaryRow, stageFromRow, summaryFromRow, type WorkflowRow, WORKFLOW_COLUMNS, workflowFromRow } from './rows.js';
import { type StabilizeTables, stabilizeTables } from './schema.js';

const STAGE_COLUMNS = [
  'id',
  'execution_id',
  'ref_id',
  'type',
  'name',
  'status',
  'context',
  'outputs',
  'requisite_stage_ref_ids',
  'parent_stage_id',
  'synthetic_stage_owner',
  'start_time',
  'end_time',
  'start_time_expiry',
  'scheduled_time',
  'version',
  'join_type',
  'join_threshold',
  'split_type',
  'split_conditions',
  'mi_config',
  'deferred_choice_group',
  'milestone_ref_id',
  'milestone_status',
  'mutex_key',
  'cancel_region',
  'output_reducers',
  'ancestor_outputs',
];

/**
 * The PostgreSQL `WorkflowStore`. Requires the schema created by `stabilize mg-up` (see `migrate`).
 * Store and queue objects for the same URL share one connection pool; `close()` releases it.
 */
export class PostgresWorkflowStore implements WorkflowStore {
  /** @internal */
  readonly backend: PgBackend;
  private sqlCache: ReturnType<PostgresWorkflowStore['buildSql']> | null = null;
  private drizzleTables: StabilizeTables | null = null;
  private readonly qb = new QueryBuilder(new PgDialect());

  constructor(url: string, options: PostgresOptions = {}) {
    this.backend = new PgBackend(url, options, 'PostgresWorkflowStore');
  }

  /** The schema holding the tables (resolved on first use when not given). */
  get schema(): string {
    return this.backend.schema;
  }

  private buildSql() {
    const { t } = this.backend;
    const stageSelect = `SELECT ${STAGE_COLUMNS.map((c) => `s.${c}`).join(', ')},
      (SELECT json_agg(tk ORDER BY tk.position) FROM ${t.tasks} tk WHERE tk.stage_id = s.id) AS tasks
      FROM ${t.stages} s`;
    return {
      workflow: `SELECT ${WORKFLOW_COLUMNS.join(', ')} FROM ${t.workflows} WHERE id = $1`,
      stage: `${stageSelect} WHERE s.id = $1`,
      // The stage with its workflow's row (columns prefixed `w__`); no workflow row: w__id is null.
      stageWithWorkflow: `SELECT ${STAGE_COLUMNS.map((c) => `s.${c}`).join(', ')},
        (SELECT json_agg(tk ORDER BY tk.position) FROM ${t.tasks} tk WHERE tk.stage_id = s.id) AS tasks,
        ${WORKFLOW_COLUMNS.map((c) => `w.${c} AS w__${c}`).join(', ')}
        FROM ${t.stages} s LEFT JOIN ${t.workflows} w ON w.id = s.execution_id WHERE s.id = $1`,
      stagesOfWorkflow: `${stageSelect} WHERE s.execution_id = $1 ORDER BY s.position`,
      // In the order of the requested ref ids (then creation order), as the in-memory reference.
      stagesByRefIds: `${stageSelect} WHERE s.execution_id = $1 AND s.ref_id = ANY($2::text[]) ORDER BY array_position($2::text[], s.ref_id), s.position`,
      downstream: `${stageSelect} WHERE s.id IN (SELECT r.stage_id FROM ${t.requisites} r WHERE r.execution_id = $1 AND r.requisite_ref_id = $2) ORDER BY s.position`,
      synthetic: `${stageSelect} WHERE s.parent_stage_id = $1 ORDER BY s.position`,
      summaries: `SELECT id, ref_id, status, requisite_stage_ref_ids, parent_stage_id, synthetic_stage_owner, context, outputs FROM ${t.stages} WHERE execution_id = $1 ORDER BY position`,
      summariesOf: `SELECT execution_id, id, ref_id, status, requisite_stage_ref_ids, parent_stage_id, synthetic_stage_owner, context, outputs FROM ${t.stages} WHERE execution_id = ANY($1::text[]) ORDER BY execution_id, position`,
    };
  }

  private async sql() {
    await this.backend.ready();
    this.sqlCache ??= this.buildSql();
    return this.sqlCache;
  }

  private async rows<R extends Record<string, unknown>>(text: string, values: unknown[], operation: string): Promise<R[]> {
    return (await this.backend.raw<R>(text, values, operation, statementName(text))).rows;
  }

  async store(workflow: Workflow): Promise<void> {
    workflow.validate();
    await this.commit(new Transaction().insertWorkflow(workflow));
  }

  async retrieve(workflowId: string): Promise<Workflow> {
    const sql = await this.sql();
    const workflow = await this.retrieveWorkflowOnly(workflowId);
    const stages = await this.rows<StageRow & Record<string, unknown>>(sql.stagesOfWorkflow, [workflowId], 'retrieve');
    for (const row of stages) workflow.stages.push(stageFromRow(row));
    return workflow;
  }

  async retrieveWorkflowOnly(workflowId: string): Promise<Workflow> {
    const sql = await this.sql();
    const [row] = await this.rows<WorkflowRow & Record<string, unknown>>(sql.workflow, [workflowId], 'retrieveWorkflowOnly');
    if (!row) throw new WorkflowNotFoundError(workflowId);
    return workflowFromRow(row);
  }

  async retrieveStage(stageId: string): Promise<StageExecution> {
    const sql = await this.sql();
    const [row] = await this.rows<StageRow & Record<string, unknown>>(sql.stage, [stageId], 'retrieveStage');
    if (!row) throw new StageNotFoundError(stageId);
    return stageFromRow(row);
  }

  async retrieveStageWithWorkflow(stageId: string): Promise<{ stage: StageExecution; workflow: Workflow }> {
    const sql = await this.sql();
    const [row] = await this.rows<Record<string, unknown>>(sql.stageWithWorkflow, [stageId], 'retrieveStageWithWorkflow');
    if (!row) throw new StageNotFoundError(stageId);
    const stageRow: Record<string, unknown> = {};
    const workflowRow: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(row)) {
      if (key.startsWith('w__')) workflowRow[key.slice(3)] = value;
      else stageRow[key] = value;
    }
    if (workflowRow.id === null || workflowRow.id === undefined) throw new WorkflowNotFoundError(String(stageRow.execution_id));
    return { stage: stageFromRow(stageRow as unknown as StageRow), workflow: workflowFromRow(workflowRow as unknown as WorkflowRow) };
  }

  async retrieveStagesByRefIds(workflowId: string, refIds: readonly string[]): Promise<StageExecution[]> {
    if (refIds.length === 0) return [];
    const sql = await this.sql();
    return (await this.rows<StageRow & Record<string, unknown>>(sql.stagesByRefIds, [workflowId, [...refIds]], 'retrieveStagesByRefIds')).map(stageFromRow);
  }

  async retrieveDownstreamStages(workflowId: string, refId: string): Promise<StageExecution[]> {
    const sql = await this.sql();
    return (await this.rows<StageRow & Record<string, unknown>>(sql.downstream, [workflowId, refId], 'retrieveDownstreamStages')).map(stageFromRow);
  }

  async retrieveSyntheticStages(parentStageId: string): Promise<StageExecution[]> {
    const sql = await this.sql();
    return (await this.rows<StageRow & Record<string, unknown>>(sql.synthetic, [parentStageId], 'retrieveSyntheticStages')).map(stageFromRow);
  }

  async retrieveStageSummaries(workflowId: string): Promise<StageSummary[]> {
    const sql = await this.sql();
    return (await this.rows<SummaryRow & Record<string, unknown>>(sql.summaries, [workflowId], 'retrieveStageSummaries')).map((row) => summaryFromRow(row, workflowId));
  }

  async retrieveStageSummariesFor(workflowIds: readonly string[]): Promise<Map<string, StageSummary[]>> {
    const out = new Map<string, StageSummary[]>(workflowIds.map((id) => [id, []]));
    if (workflowIds.length === 0) return out;
    const sql = await this.sql();
    const rows = await this.rows<SummaryRow & { execution_id: string } & Record<string, unknown>>(sql.summariesOf, [[...new Set(workflowIds)]], 'retrieveStageSummariesFor');
    for (const row of rows) out.get(row.execution_id)?.push(summaryFromRow(row, row.execution_id));
    return out;
  }

  private async tables(): Promise<StabilizeTables> {
    await this.backend.ready();
    this.drizzleTables ??= stabilizeTables(this.backend.schema);
    return this.drizzleTables;
  }

  private where(w: StabilizeTables['pipelineExecutions'], query: WorkflowQuery): SQL | undefined {
    const conditions: Array<SQL | undefined> = [];
    if (query.application !== undefined) conditions.push(eq(w.application, query.application));
    if (query.pipelineConfigId !== undefined) conditions.push(eq(w.pipelineConfigId, query.pipelineConfigId));
    if (query.statuses !== undefined) conditions.push(query.statuses.length === 0 ? rawSql`false` : inArray(w.status, query.statuses));
    if (query.startedAfter !== undefined) conditions.push(or(isNull(w.startTime), gte(w.startTime, query.startedAfter)));
    // Ids compare in code-point order (the column is COLLATE "C"), as in the in-memory reference.
    if (query.afterId !== undefined) conditions.push(query.order === 'desc' ? lt(w.id, query.afterId) : gt(w.id, query.afterId));
    return and(...conditions);
  }

  async countWorkflows(query: WorkflowQuery): Promise<number> {
    const { pipelineExecutions: w } = await this.tables();
    const built = this.qb.select({ n: count() }).from(w).where(this.where(w, query)).toSQL();
    const [row] = await this.rows<Record<string, unknown>>(built.sql, built.params, 'countWorkflows');
    return Number(row ? Object.values(row)[0] : 0);
  }

  async countWorkflowsByStatus(query: { application?: string } = {}): Promise<Partial<Record<WorkflowStatus, number>>> {
    const { pipelineExecutions: w } = await this.tables();
    const built = this.qb
      .select({ status: w.status, n: rawSql<number>`count(*)::int` })
      .from(w)
      .where(this.where(w, query.application === undefined ? {} : { application: query.application }))
      .groupBy(w.status)
      .toSQL();
    // Raw rows: values in select order (status, count), whatever names the driver gives them.
    const counts: Partial<Record<WorkflowStatus, number>> = {};
    for (const row of await this.rows<Record<string, unknown>>(built.sql, built.params, 'countWorkflowsByStatus')) {
      const [status, n] = Object.values(row);
      counts[status as WorkflowStatus] = Number(n);
    }
    return counts;
  }

  async listWorkflows(query: WorkflowQuery): Promise<Workflow[]> {
    const { pipelineExecutions: w } = await this.tables();
    const built = this.qb
      .select()
      .from(w)
      .where(this.where(w, query))
      .orderBy(query.order === 'desc' ? desc(w.id) : asc(w.id))
      .limit(query.limit ?? 100)
      .toSQL();
    // drizzle selects every column by its SQL name, so the raw rows map like any other.
    return (await this.rows<WorkflowRow & Record<string, unknown>>(built.sql, built.params, 'listWorkflows')).map(workflowFromRow);
  }

  async commit(tx: Transaction): Promise<void> {
    await commitTransaction(this.backend, tx);
  }

  async close(): Promise<void> {
    await this.backend.close();
  }
}
