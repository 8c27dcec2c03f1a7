// `WorkflowStore.commit` as ONE SQL statement: data-modifying CTEs apply every part of the
// Transaction, and the final SELECT asserts every precondition (lease held, versions and statuses as
// expected, claims granted) through `stabilize_assert`, which aborts the statement, and so its whole
// implicit READ COMMITTED transaction, when one failed. One round trip per commit; on failure a few
// diagnostic reads (the rare path) name the exact error the in-memory reference would throw.
import {
  ClaimBlockedError,
  ConcurrencyError,
  isComplete,
  LeaseLostError,
  type Message,
  parseJson,
  type StageExecution,
  StageNotFoundError,
  type Transaction,
  type Workflow,
  WorkflowNotFoundError,
  type WorkflowStateUpdate,
  COMPLETED_STATUSES,
} from '@stabilize/core';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { type PgBackend, statementName } from './backend.js';
import { isConnectionError, mapPgError } from './errors.js';
import { assignSequences, duplicateEventError, EVENT_SEQUENCES, eventCtes, eventDocument } from './events.js';
import { columnDefs, pausedToJson, STAGE_INSERT_COLUMNS, STAGE_UPDATE_COLUMNS, stageRecord, TASK_COLUMNS, taskRecords, workflowRecord, WORKFLOW_COLUMNS } from './rows.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ROW_ID = /^[1-9][0-9]{0,17}$/;

/** Queue rows pushed by commits get this many attempts (as in the in-memory reference). */
export const COMMIT_MAX_ATTEMPTS = 10;

const WORKFLOW_INSERT_DEFS: ReadonlyArray<readonly [string, string]> = [
  ['id', 'text'],
  ['type', 'text'],
  ['application', 'text'],
  ['name', 'text'],
  ['status', 'text'],
  ['start_time', 'bigint'],
  ['end_time', 'bigint'],
  ['start_time_expiry', 'bigint'],
  ['trigger', 'jsonb'],
  ['context', 'jsonb'],
  ['is_canceled', 'boolean'],
  ['canceled_by', 'text'],
  ['cancellation_reason', 'text'],
  ['paused', 'jsonb'],
  ['pipeline_config_id', 'text'],
  ['is_limit_concurrent', 'boolean'],
  ['max_concurrent_executions', 'integer'],
  ['keep_waiting_pipelines', 'boolean'],
  ['origin', 'text'],
  ['config_version', 'text'],
  ['created_at', 'bigint'],
];

/** Workflow fields an update may set, with their column and SQL type. */
const WORKFLOW_UPDATE_FIELDS: ReadonlyArray<readonly [keyof WorkflowStateUpdate, string, string]> = [
  ['status', 'status', 'text'],
  ['startTime', 'start_time', 'bigint'],
  ['endTime', 'end_time', 'bigint'],
  ['isCanceled', 'is_canceled', 'boolean'],
  ['canceledBy', 'canceled_by', 'text'],
  ['cancellationReason', 'cancellation_reason', 'text'],
  ['paused', 'paused', 'jsonb'],
];

const COMPLETE_LIST = [...COMPLETED_STATUSES].map((s) => `'${s}'`).join(', ');

/** Parameters plus a `$n` allocator. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown, cast?: string): string {
    this.values.push(value);
    return cast ? `$${this.values.length}::${cast}` : `$${this.values.length}`;
  }
}

/** The row of the commit statement: the deliveries it leased to the committer, the events' sequences. */
interface CommitRow {
  claimed?: string | null;
  event_sequences?: string | null;
}

interface Check {
  label: string;
  expr: string;
}

interface Plan {
  text: string;
  values: unknown[];
  /** Lease tokens of the messages inserted already leased to the committing worker (`claimPushed`). */
  claimedTokens: Map<string, Message>;
  /** Some message is for other workers: NOTIFY them. */
  announce: boolean;
}

function recordset(json: string, defs: ReadonlyArray<readonly [string, string]>, alias = 'v'): string {
  return `jsonb_to_recordset(${json}) AS ${alias}(${columnDefs(defs)})`;
}

/** Rows of a JSON array in array order: `FROM <this> ORDER BY e.ord`. */
function orderedRecords(json: string, defs: ReadonlyArray<readonly [string, string]>): string {
  return `jsonb_array_elements(${json}) WITH ORDINALITY AS e(doc, ord) CROSS JOIN LATERAL jsonb_to_record(e.doc) AS v(${columnDefs(defs)})`;
}

/** Throws what the in-memory reference throws for preconditions it checks before touching anything. */
function precheck(tx: Transaction): void {
  if (tx.consumed && (!ROW_ID.test(tx.consumed.deliveryId) || !UUID.test(tx.consumed.leaseToken))) {
    throw new LeaseLostError(`Message ${tx.consumed.deliveryId} is no longer held by this worker`);
  }
  // Workflows and stages inserted by this transaction do not exist yet when the reference validates
  // updates, so updating them in the same transaction fails there too.
  const insertedStages = new Set(tx.stageInserts.map((s) => s.id));
  const stagesOfInsertedWorkflows = new Set(tx.workflowInserts.flatMap((w) => w.stages.map((s) => s.id)));
  for (const { stage } of tx.stageUpdates) {
    if (!insertedStages.has(stage.id) && stagesOfInsertedWorkflows.has(stage.id)) throw new StageNotFoundError(stage.id);
  }
  const insertedWorkflows = new Set(tx.workflowInserts.map((w) => w.id));
  for (const { workflowId } of tx.workflowUpdates) if (insertedWorkflows.has(workflowId)) throw new WorkflowNotFoundError(workflowId);
}

export function buildCommit(b: PgBackend, tx: Transaction): Plan {
  const { t } = b;
  const p = new Params();
  const ctes: string[] = [];
  const checks: Check[] = [];
  // "now": the database clock, or one parameter holding the injected clock's time (added on first use).
  const nowIso = b.nowParam();
  let nowRef: string | null = null;
  const now = () => {
    if (nowIso === null) return 'now()';
    nowRef ??= p.add(nowIso, 'timestamptz');
    return nowRef;
  };
  const nowMs = () => (nowIso === null ? '((extract(epoch from now()) * 1000)::bigint)' : `((extract(epoch from ${now()}) * 1000)::bigint)`);

  // 1. The consumed delivery (the "processed" mark): only while this worker holds its lease.
  if (tx.consumed) {
    ctes.push(`c_consumed AS (DELETE FROM ${t.queue} WHERE id = ${p.add(tx.consumed.deliveryId, 'bigint')} AND lease_token = ${p.add(tx.consumed.leaseToken, 'uuid')} RETURNING 1)`);
    checks.push({ label: 'lease', expr: '(SELECT count(*) FROM c_consumed) = 1' });
  }

  // 2. New workflows, then every new stage (theirs and tx.stageInserts) in creation order.
  if (tx.workflowInserts.length > 0) {
    const records = tx.workflowInserts.map((w) => workflowRecord(w, w.createdAt ?? (b.clock ? b.clock.now() : null)));
    const cols = WORKFLOW_COLUMNS.join(', ');
    const values = WORKFLOW_COLUMNS.map((c) => (c === 'created_at' ? `COALESCE(v.created_at, ${nowMs()})` : `v.${c}`)).join(', ');
    ctes.push(`c_wf_ins AS (INSERT INTO ${t.workflows} (${cols}) SELECT ${values} FROM ${orderedRecords(p.add(JSON.stringify(records), 'jsonb'), WORKFLOW_INSERT_DEFS)} ORDER BY e.ord RETURNING 1)`);
  }
  const newStages: Array<[StageExecution, string]> = [];
  for (const w of tx.workflowInserts) for (const s of w.stages) newStages.push([s, w.id]);
  for (const s of tx.stageInserts) newStages.push([s, s.executionId]);
  const insertedIds = new Set(tx.stageInserts.map((s) => s.id));
  const updates = tx.stageUpdates.filter((u) => !insertedIds.has(u.stage.id));
  const taskRows = [...newStages.flatMap(([s]) => taskRecords(s)), ...updates.flatMap((u) => taskRecords(u.stage))];
  if (newStages.length > 0) {
    const doc = p.add(JSON.stringify(newStages.map(([s, executionId]) => stageRecord(s, executionId))), 'jsonb');
    const cols = STAGE_INSERT_COLUMNS.map(([c]) => c).join(', ');
    ctes.push(`c_st_ins AS (INSERT INTO ${t.stages} (${cols}) SELECT ${STAGE_INSERT_COLUMNS.map(([c]) => `v.${c}`).join(', ')} FROM ${orderedRecords(doc, STAGE_INSERT_COLUMNS)} ORDER BY e.ord RETURNING 1)`);
    ctes.push(
      `c_req_ins AS (INSERT INTO ${t.requisites} (execution_id, stage_id, requisite_ref_id) SELECT v.execution_id, v.id, r.ref FROM ${recordset(doc, [
        ['id', 'text'],
        ['execution_id', 'text'],
        ['requisite_stage_ref_ids', 'text[]'],
      ])} CROSS JOIN LATERAL unnest(v.requisite_stage_ref_ids) AS r(ref) ON CONFLICT DO NOTHING)`,
    );
  }

  // 3. Claims: insert, keep (same owner), or steal when allowed and the owner stage is complete or gone.
  if (tx.claims.length > 0) {
    const byKey = new Map<string, (typeof tx.claims)[number]>();
    for (const c of tx.claims) byKey.set(`${c.executionId}\u0000${c.claimKey}`, c);
    const records = [...byKey.values()].map((c) => ({ execution_id: c.executionId, claim_key: c.claimKey, stage_id: c.stageId, steal: c.stealIfOwnerComplete }));
    const doc = p.add(JSON.stringify(records), 'jsonb');
    const defs: ReadonlyArray<readonly [string, string]> = [
      ['execution_id', 'text'],
      ['claim_key', 'text'],
      ['stage_id', 'text'],
      ['steal', 'boolean'],
    ];
    ctes.push(
      `c_claims AS (INSERT INTO ${t.claims} AS sc (execution_id, claim_key, stage_id, claimed_at) SELECT v.execution_id, v.claim_key, v.stage_id, ${now()} FROM ${recordset(doc, defs)}
        ON CONFLICT (execution_id, claim_key) DO UPDATE SET stage_id = EXCLUDED.stage_id,
          claimed_at = CASE WHEN sc.stage_id = EXCLUDED.stage_id THEN sc.claimed_at ELSE EXCLUDED.claimed_at END
        WHERE sc.stage_id = EXCLUDED.stage_id OR (
          EXISTS (SELECT 1 FROM ${recordset(doc, defs, 'r')} WHERE r.execution_id = EXCLUDED.execution_id AND r.claim_key = EXCLUDED.claim_key AND r.steal)
          AND NOT EXISTS (SELECT 1 FROM ${t.stages} o WHERE o.id = sc.stage_id AND o.status NOT IN (${COMPLETE_LIST})))
        RETURNING 1)`,
    );
    checks.push({ label: 'claims', expr: `(SELECT count(*) FROM c_claims) = ${records.length}` });
  }

  // 4. Workflow updates, merged per workflow in order; every expected status must hold.
  if (tx.workflowUpdates.length > 0) {
    const merged = new Map<string, { fields: WorkflowStateUpdate; expected: string[] }>();
    for (const u of tx.workflowUpdates) {
      const entry = merged.get(u.workflowId) ?? { fields: {}, expected: [] };
      for (const [key, value] of Object.entries(u.fields)) if (value !== undefined) (entry.fields as Record<string, unknown>)[key] = value;
      if (u.expectedStatus !== undefined) entry.expected.push(u.expectedStatus);
      merged.set(u.workflowId, entry);
    }
    const records = [...merged].map(([id, { fields, expected }]) => {
      const record: Record<string, unknown> = { id, expected };
      for (const [field, column] of WORKFLOW_UPDATE_FIELDS) {
        if (!(field in fields)) continue;
        record[`set_${column}`] = true;
        record[column] = field === 'paused' ? pausedToJson(fields.paused ?? null) : fields[field];
      }
      return record;
    });
    const defs: Array<readonly [string, string]> = [
      ['id', 'text'],
      ['expected', 'text[]'],
    ];
    for (const [, column, type] of WORKFLOW_UPDATE_FIELDS) defs.push([`set_${column}`, 'boolean'], [column, type]);
    const sets = WORKFLOW_UPDATE_FIELDS.map(([, c]) => `${c} = CASE WHEN v.set_${c} THEN v.${c} ELSE w.${c} END`).join(', ');
    ctes.push(
      `c_wf_upd AS (UPDATE ${t.workflows} w SET ${sets} FROM ${recordset(p.add(JSON.stringify(records), 'jsonb'), defs)} WHERE w.id = v.id AND w.status = ALL(COALESCE(v.expected, '{}'::text[])) RETURNING 1)`,
    );
    checks.push({ label: 'workflows', expr: `(SELECT count(*) FROM c_wf_upd) = ${records.length}` });
  }

  // 5. Stage updates: version (and optional status) compare-and-swap, version + 1.
  if (updates.length > 0) {
    const records = updates
      .map(({ stage, expectedStatus }) => ({ ...stageRecord(stage, stage.executionId), id: stage.id, expected_status: expectedStatus ?? null }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const defs = [...STAGE_UPDATE_COLUMNS, ['id', 'text'] as const, ['version', 'integer'] as const, ['expected_status', 'text'] as const];
    const sets = [...STAGE_UPDATE_COLUMNS.map(([c]) => `${c} = v.${c}`), 'version = s.version + 1'].join(', ');
    ctes.push(
      `c_st_upd AS (UPDATE ${t.stages} s SET ${sets} FROM ${recordset(p.add(JSON.stringify(records), 'jsonb'), defs)} WHERE s.id = v.id AND s.version = v.version AND (v.expected_status IS NULL OR s.status = v.expected_status) RETURNING 1)`,
    );
    checks.push({ label: 'stages', expr: `(SELECT count(*) FROM c_st_upd) = ${records.length}` });
    // The stage's task list replaces the stored one: tasks no longer listed are removed.
    ctes.push(
      `c_task_del AS (DELETE FROM ${t.tasks} WHERE stage_id = ANY(${p.add(
        updates.map((u) => u.stage.id),
        'text[]',
      )}) AND NOT (id = ANY(${p.add(
        updates.flatMap((u) => u.stage.tasks.map((task) => task.id)),
        'text[]',
      )})))`,
    );
  }

  // 6. Tasks of new and updated stages: insert, or rewrite when something changed. A task id that
  //    belongs to another stage is a conflict, never a silent move.
  if (taskRows.length > 0) {
    const doc = p.add(JSON.stringify(taskRows), 'jsonb');
    const cols = TASK_COLUMNS.map(([c]) => c);
    const mutable = cols.filter((c) => c !== 'id' && c !== 'stage_id');
    ctes.push(
      `c_tasks AS (INSERT INTO ${t.tasks} AS tk (${cols.join(', ')}) SELECT ${cols.map((c) => `v.${c}`).join(', ')} FROM ${recordset(doc, TASK_COLUMNS)}
        ON CONFLICT (id) DO UPDATE SET ${mutable.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}
        WHERE tk.stage_id = EXCLUDED.stage_id AND (${mutable.map((c) => `tk.${c}`).join(', ')}) IS DISTINCT FROM (${mutable.map((c) => `EXCLUDED.${c}`).join(', ')}))`,
    );
    checks.push({
      label: 'tasks',
      expr: `NOT EXISTS (SELECT 1 FROM ${t.tasks} tc JOIN ${recordset(doc, [
        ['id', 'text'],
        ['stage_id', 'text'],
      ])} ON tc.id = v.id WHERE tc.stage_id <> v.stage_id)`,
    });
  }

  // 7. Follow-up messages, in push order. With `claimPushed`, the first `limit` claimable messages
  //    due at once are inserted already leased to the committing worker (its fast path); a message
  //    with a coalescing key is dropped while an undelivered one with that key waits.
  const claimedTokens = new Map<string, Message>();
  let announce = false;
  if (tx.messages.length > 0) {
    let claimable = tx.claimPushed?.limit ?? 0;
    const seenKeys = new Set<string>();
    const records: Array<Record<string, unknown>> = [];
    for (const { message, delayMs, claimable: allowed, coalesceKey } of tx.messages) {
      const claim = claimable > 0 && delayMs === 0 && allowed && tx.claimPushed !== null;
      if (coalesceKey !== undefined && !claim) {
        if (seenKeys.has(coalesceKey)) continue; // an earlier push of this transaction carries it
        seenKeys.add(coalesceKey);
      }
      let token: string | null = null;
      if (claim) {
        token = randomUUID();
        claimedTokens.set(token, message);
        claimable--;
      } else {
        announce = true;
      }
      records.push({
        message_type: message.type,
        payload: message,
        task_id: typeof (message as { taskId?: unknown }).taskId === 'string' ? (message as { taskId: string }).taskId : null,
        delay_ms: delayMs,
        lease_token: token,
        coalesce_key: claim ? null : (coalesceKey ?? null),
      });
    }
    const lease = tx.claimPushed ? p.add(tx.claimPushed.leaseMs, 'double precision') : 'NULL::double precision';
    // The waiting rows are locked, not just looked at: a poller (SKIP LOCKED) can then hand them out
    // only after this commit, so their handler sees its writes, as the contract promises. A row
    // claimed meanwhile has lost its key (the lock waits for that poll, then re-reads the row) and
    // this push is kept.
    let coalesced = 'false';
    if (seenKeys.size > 0) {
      ctes.push(`c_coal AS (SELECT x.coalesce_key FROM ${t.queue} x WHERE x.coalesce_key = ANY(${p.add([...seenKeys], 'text[]')}) FOR UPDATE OF x)`);
      coalesced = 'v.coalesce_key IN (SELECT coalesce_key FROM c_coal)';
    }
    ctes.push(
      `c_msgs AS (INSERT INTO ${t.queue} (message_type, payload, task_id, deliver_at, created_at, max_attempts, attempts, lease_token, lease_until, coalesce_key)
        SELECT v.message_type, v.payload, v.task_id, ${now()} + v.delay_ms * interval '1 millisecond', ${now()}, ${COMMIT_MAX_ATTEMPTS},
          CASE WHEN v.lease_token IS NULL THEN 0 ELSE 1 END, v.lease_token,
          CASE WHEN v.lease_token IS NULL THEN NULL ELSE ${now()} + ${lease} * interval '1 millisecond' END, v.coalesce_key
        FROM ${orderedRecords(p.add(JSON.stringify(records), 'jsonb'), [
          ['message_type', 'text'],
          ['payload', 'jsonb'],
          ['task_id', 'text'],
          ['delay_ms', 'double precision'],
          ['lease_token', 'uuid'],
          ['coalesce_key', 'text'],
        ])}
        WHERE v.coalesce_key IS NULL OR NOT (${coalesced})
        ORDER BY e.ord RETURNING id, lease_token, deliver_at)`,
    );
  }

  // 8. Events (tx.events), with the next per-workflow sequences (see events.ts); position stays NULL
  //    until a reader sequences them.
  const hasEvents = tx.events.length > 0;
  if (hasEvents) ctes.push(...eventCtes(t, p.add(JSON.stringify(tx.events.map(eventDocument)), 'jsonb')));

  // Each check is evaluated once (in `k`); the assertion aborts the statement if one is false.
  const selects: string[] = [];
  let from = '';
  if (checks.length > 0) {
    const all = checks.map((c) => `k.${c.label}`).join(' AND ');
    const failures = `concat_ws(',', ${checks.map((c) => `CASE WHEN NOT k.${c.label} THEN '${c.label}' END`).join(', ')})`;
    selects.push(`${t.assert}(${all}, ${failures})`);
    from = ` FROM (SELECT ${checks.map((c) => `(${c.expr}) AS ${c.label}`).join(', ')}) AS k`;
  }
  // Other workers only need waking for messages this worker does not keep for itself.
  if (announce) selects.push(`pg_notify(${p.add(b.channel)}, '')`);
  if (claimedTokens.size > 0) {
    selects.push(
      `(SELECT json_agg(json_build_object('id', m.id, 'token', m.lease_token, 'at', extract(epoch from m.deliver_at) * 1000)) FROM c_msgs m WHERE m.lease_token IS NOT NULL) AS claimed`,
    );
  }
  if (hasEvents) selects.push(`${EVENT_SEQUENCES} AS event_sequences`);
  if (selects.length === 0) selects.push('1');
  const text = `${ctes.length > 0 ? `WITH ${ctes.join(',\n')}\n` : ''}SELECT ${selects.join(', ')}${from}`;
  return { text, values: p.values, claimedTokens, announce };
}

/** Applies `tx` atomically. Throws the error the in-memory reference would throw for the same state. */
export async function commitTransaction(b: PgBackend, tx: Transaction): Promise<void> {
  precheck(tx);
  if (tx.isEmpty()) return;
  await b.ready();
  const plan = buildCommit(b, tx);
  const withClaimOps = tx.claimWaits.length > 0 || tx.claimReleases.length > 0;
  let row: CommitRow | undefined;
  let woken = false;
  if (!withClaimOps) {
    // The common case: one statement, its own implicit transaction, one round trip.
    try {
      row = (await b.pool.query({ name: statementName(plan.text), text: plan.text, values: plan.values })).rows[0];
    } catch (error) {
      if (isConnectionError(error)) throw mapPgError(error, { schema: b.schema, operation: 'commit' });
      await diagnose(b, tx, error);
    }
  } else {
    ({ row, woken } = await commitWithClaimOps(b, tx, plan));
  }
  // The stored events carry their sequence now (their position is given later, by a reader).
  if (tx.events.length > 0) assignSequences(tx.events, row?.event_sequences);
  // The reference bumps the version of every updated stage object (not of stages it inserted).
  const inserted = new Set(tx.stageInserts.map((s) => s.id));
  for (const { stage } of tx.stageUpdates) if (!inserted.has(stage.id)) stage.version += 1;
  if (row?.claimed) {
    const claimed = parseJson<Array<{ id: number; token: string; at: number }>>(row.claimed, 'claimed deliveries', []);
    for (const c of claimed) {
      const message = plan.claimedTokens.get(c.token);
      if (message) tx.claimed.push({ id: String(c.id), message: structuredClone(message), attempts: 1, maxAttempts: COMMIT_MAX_ATTEMPTS, leaseToken: c.token, deliverAt: Math.round(c.at) });
    }
  }
  // Waiters (here and, through the NOTIFY, in other processes) wake only for messages they can
  // take: the ones this commit claimed reach the committing worker through its fast path.
  if (plan.announce || woken) b.wakeLocal();
}

/**
 * A transaction that waits for or releases claims runs as an explicit transaction: first an
 * advisory lock per claim key (so a wait and a release of the same key never interleave and a wait
 * never misses a release), then the main statement, then one statement per release and per wait,
 * each seeing what the earlier ones wrote.
 */
async function commitWithClaimOps(b: PgBackend, tx: Transaction, plan: Plan): Promise<{ row: CommitRow | undefined; woken: boolean }> {
  const { t } = b;
  let client: pg.PoolClient;
  try {
    client = await b.pool.connect();
  } catch (error) {
    throw mapPgError(error, { schema: b.schema, operation: 'commit' });
  }
  let broken: unknown;
  try {
    await client.query('BEGIN');
    const keys = new Map<string, [string, string]>();
    for (const c of [...tx.claims, ...tx.claimWaits, ...tx.claimReleases]) keys.set(`${c.executionId}\u0000${c.claimKey}`, [c.executionId, c.claimKey]);
    const sorted = [...keys.entries()].sort(([a], [z]) => (a < z ? -1 : a > z ? 1 : 0)).map(([, v]) => v);
    await client.query(
      `SELECT count(pg_advisory_xact_lock(hashtext($1 || '|' || k.e), hashtext(k.c))) FROM (SELECT e, c, o FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS u(e, c, o) ORDER BY o) k`,
      [b.schema, sorted.map(([e]) => e), sorted.map(([, c]) => c)],
    );
    let row: CommitRow | undefined;
    try {
      row = (await client.query({ name: statementName(plan.text), text: plan.text, values: plan.values })).rows[0];
    } catch (error) {
      if (isConnectionError(error)) throw error;
      await client.query('ROLLBACK');
      await diagnose(b, tx, error);
    }
    let woken = false;
    // `now` is a parameter: the injected clock's time, or NULL for the database clock.
    const insertMessage = (source: string, now: string) =>
      `INSERT INTO ${t.queue} (message_type, payload, task_id, deliver_at, created_at, max_attempts) SELECT message_type, payload, task_id, COALESCE(${now}::timestamptz, now()), COALESCE(${now}::timestamptz, now()), ${COMMIT_MAX_ATTEMPTS} FROM ${source}`;
    const nowValue = b.nowParam();
    for (const r of tx.claimReleases) {
      // Release if owned. Then, unless someone (this transaction included) owns the key, wake the
      // next waiter: in waiting order, waiters whose stage is gone or complete (or whose workflow is
      // complete) are forgotten, and the first other one is forgotten too and its message pushed.
      const result = await client.query(
        `WITH rel AS (DELETE FROM ${t.claims} WHERE execution_id = $1 AND claim_key = $2 AND stage_id = $3 RETURNING 1),
           cand AS (SELECT w.seq, w.stage_id, w.message_type, w.payload, w.task_id,
                 (s.id IS NOT NULL AND s.status NOT IN (${COMPLETE_LIST}) AND p.id IS NOT NULL AND p.status NOT IN (${COMPLETE_LIST})) AS live
               FROM ${t.claimWaiters} w
               LEFT JOIN ${t.stages} s ON s.id = w.stage_id
               LEFT JOIN ${t.workflows} p ON p.id = s.execution_id
               WHERE w.execution_id = $1 AND w.claim_key = $2
                 AND NOT EXISTS (SELECT 1 FROM ${t.claims} c WHERE c.execution_id = $1 AND c.claim_key = $2 AND c.stage_id <> $3)),
           next AS (SELECT * FROM cand WHERE live ORDER BY seq LIMIT 1),
           forgotten AS (DELETE FROM ${t.claimWaiters} w USING cand c
               WHERE w.execution_id = $1 AND w.claim_key = $2 AND w.stage_id = c.stage_id
                 AND c.seq <= COALESCE((SELECT seq FROM next), 9223372036854775807) RETURNING 1),
           pushed AS (${insertMessage('next', '$4')} RETURNING 1)
         SELECT (SELECT count(*)::int FROM pushed) AS n`,
        [r.executionId, r.claimKey, r.stageId, nowValue],
      );
      if ((result.rows[0]?.n ?? 0) > 0) woken = true;
    }
    for (const w of tx.claimWaits) {
      // Held by another stage that exists and is not complete: wait (one place per stage, kept when
      // the wait is repeated). Otherwise the message goes out at once.
      const message = w.message;
      const taskId = typeof (message as { taskId?: unknown }).taskId === 'string' ? (message as { taskId: string }).taskId : null;
      const result = await client.query(
        `WITH blocked AS (SELECT 1 FROM ${t.claims} c JOIN ${t.stages} s ON s.id = c.stage_id
             WHERE c.execution_id = $1 AND c.claim_key = $2 AND c.stage_id <> $3 AND s.status NOT IN (${COMPLETE_LIST})),
           waiting AS (INSERT INTO ${t.claimWaiters} (execution_id, claim_key, stage_id, message_type, payload, task_id, waiting_since)
             SELECT $1, $2, $3, $4, $5::jsonb, $6, COALESCE($7::timestamptz, now()) FROM blocked
             ON CONFLICT (execution_id, claim_key, stage_id) DO UPDATE SET message_type = EXCLUDED.message_type, payload = EXCLUDED.payload, task_id = EXCLUDED.task_id
             RETURNING 1),
           pushed AS (${insertMessage('(SELECT $4::text AS message_type, $5::jsonb AS payload, $6::text AS task_id WHERE NOT EXISTS (SELECT 1 FROM blocked)) AS x', '$7')} RETURNING 1)
         SELECT (SELECT count(*)::int FROM pushed) AS n`,
        [w.executionId, w.claimKey, w.stageId, message.type, JSON.stringify(message), taskId, nowValue],
      );
      if ((result.rows[0]?.n ?? 0) > 0) woken = true;
    }
    if (woken) await client.query('SELECT pg_notify($1, \'\')', [b.channel]);
    await client.query('COMMIT');
    return { row, woken };
  } catch (error) {
    if (isConnectionError(error)) {
      broken = error;
      throw mapPgError(error, { schema: b.schema, operation: 'commit' });
    }
    await client.query('ROLLBACK').catch(() => undefined);
    throw mapPgError(error, { schema: b.schema, operation: 'commit' });
  } finally {
    client.release(broken instanceof Error ? broken : undefined);
  }
}

/**
 * The commit statement failed: find which precondition broke, checking in the reference's order, and
 * throw its error. If the state changed again meanwhile, fall back to a ConcurrencyError.
 */
async function diagnose(b: PgBackend, tx: Transaction, cause: unknown): Promise<never> {
  const { t } = b;
  const q = async <R extends Record<string, unknown>>(text: string, values: unknown[]) => (await b.raw<R>(text, values, 'commit diagnosis')).rows;

  if (tx.consumed) {
    const held = await q(`SELECT 1 FROM ${t.queue} WHERE id = $1::bigint AND lease_token = $2::uuid`, [tx.consumed.deliveryId, tx.consumed.leaseToken]);
    if (held.length === 0) throw new LeaseLostError(`Message ${tx.consumed.deliveryId} is no longer held by this worker`);
  }
  if (tx.workflowInserts.length > 0) {
    const ids = tx.workflowInserts.map((w) => w.id);
    const existing = new Set((await q<{ id: string }>(`SELECT id FROM ${t.workflows} WHERE id = ANY($1::text[])`, [ids])).map((r) => r.id));
    const dup = ids.find((id) => existing.has(id));
    if (dup !== undefined) throw new ConcurrencyError(`Workflow ${dup} is already stored`, { cause });
  }
  const inserted = new Set(tx.stageInserts.map((s) => s.id));
  const updates = tx.stageUpdates.filter((u) => !inserted.has(u.stage.id));
  if (updates.length > 0) {
    const rows = await q<{ id: string; version: number; status: string }>(`SELECT id, version, status FROM ${t.stages} WHERE id = ANY($1::text[])`, [updates.map((u) => u.stage.id)]);
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const { stage, expectedStatus } of updates) {
      const current = byId.get(stage.id);
      if (!current) throw new StageNotFoundError(stage.id);
      if (current.version !== stage.version || (expectedStatus !== undefined && current.status !== expectedStatus)) {
        throw new ConcurrencyError(`Stage ${stage.id} changed concurrently (version ${current.version}, status ${current.status})`, { cause });
      }
    }
  }
  if (tx.workflowUpdates.length > 0) {
    const rows = await q<{ id: string; status: string }>(`SELECT id, status FROM ${t.workflows} WHERE id = ANY($1::text[])`, [tx.workflowUpdates.map((u) => u.workflowId)]);
    const byId = new Map(rows.map((r) => [r.id, r.status]));
    for (const { workflowId, expectedStatus } of tx.workflowUpdates) {
      const current = byId.get(workflowId);
      if (current === undefined) throw new WorkflowNotFoundError(workflowId);
      if (expectedStatus !== undefined && current !== expectedStatus) throw new ConcurrencyError(`Workflow ${workflowId} is ${current}, expected ${expectedStatus}`, { cause });
    }
  }
  for (const claim of tx.claims) {
    const [row] = await q<{ stage_id: string; status: string | null }>(
      `SELECT c.stage_id, s.status FROM ${t.claims} c LEFT JOIN ${t.stages} s ON s.id = c.stage_id WHERE c.execution_id = $1 AND c.claim_key = $2`,
      [claim.executionId, claim.claimKey],
    );
    if (row && row.stage_id !== claim.stageId) {
      const stealable = claim.stealIfOwnerComplete && (row.status === null || isComplete(row.status as Workflow['status']));
      if (!stealable) throw new ClaimBlockedError(claim.claimKey, row.stage_id);
    }
  }
  const insertedWorkflows = new Set(tx.workflowInserts.map((w) => w.id));
  const parents = [...new Set(tx.stageInserts.map((s) => s.executionId).filter((id) => !insertedWorkflows.has(id)))];
  if (parents.length > 0) {
    const existing = new Set((await q<{ id: string }>(`SELECT id FROM ${t.workflows} WHERE id = ANY($1::text[])`, [parents])).map((r) => r.id));
    const missing = tx.stageInserts.find((s) => !insertedWorkflows.has(s.executionId) && !existing.has(s.executionId));
    if (missing) throw new WorkflowNotFoundError(missing.executionId);
  }
  const code = (cause as { code?: string }).code;
  if (code === 'SZ001') {
    const failures = (cause as { detail?: string }).detail ?? 'unknown';
    if (failures.includes('tasks')) throw new ConcurrencyError('A task id of this transaction belongs to another stage', { cause });
    throw new ConcurrencyError(`Commit precondition failed (${failures}) and the state changed again since`, { cause });
  }
  const duplicateEvent = duplicateEventError(cause);
  if (duplicateEvent) throw duplicateEvent;
  if (code === '23505') throw new ConcurrencyError(`Commit conflicts with a stored row: ${(cause as Error).message}`, { cause });
  throw mapPgError(cause, { schema: b.schema, operation: 'commit' });
}
