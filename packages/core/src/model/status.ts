import { InvalidStateTransitionError } from '../errors.js';

/** One status vocabulary for workflows, stages and tasks. Persisted by name. */
export const WorkflowStatus = {
  NOT_STARTED: 'NOT_STARTED',
  RUNNING: 'RUNNING',
  PAUSED: 'PAUSED',
  SUSPENDED: 'SUSPENDED',
  SUCCEEDED: 'SUCCEEDED',
  FAILED_CONTINUE: 'FAILED_CONTINUE',
  TERMINAL: 'TERMINAL',
  CANCELED: 'CANCELED',
  REDIRECT: 'REDIRECT',
  STOPPED: 'STOPPED',
  SKIPPED: 'SKIPPED',
  BUFFERED: 'BUFFERED',
} as const;
export type WorkflowStatus = (typeof WorkflowStatus)[keyof typeof WorkflowStatus];

const S = WorkflowStatus;

export const ALL_STATUSES: readonly WorkflowStatus[] = Object.values(WorkflowStatus);
export const COMPLETED_STATUSES: ReadonlySet<WorkflowStatus> = new Set([S.CANCELED, S.SUCCEEDED, S.STOPPED, S.SKIPPED, S.TERMINAL, S.FAILED_CONTINUE]);
export const HALT_STATUSES: ReadonlySet<WorkflowStatus> = new Set([S.TERMINAL, S.CANCELED, S.STOPPED]);
export const SUCCESSFUL_STATUSES: ReadonlySet<WorkflowStatus> = new Set([S.SUCCEEDED, S.SKIPPED]);
export const FAILURE_STATUSES: ReadonlySet<WorkflowStatus> = new Set([S.TERMINAL, S.STOPPED, S.FAILED_CONTINUE]);
export const CONTINUABLE_STATUSES: ReadonlySet<WorkflowStatus> = new Set([S.SUCCEEDED, S.FAILED_CONTINUE, S.SKIPPED, S.REDIRECT]);
export const ACTIVE_STATUSES: ReadonlySet<WorkflowStatus> = new Set([S.NOT_STARTED, S.RUNNING, S.PAUSED, S.SUSPENDED]);

export const isComplete = (s: WorkflowStatus): boolean => COMPLETED_STATUSES.has(s);
export const isHalt = (s: WorkflowStatus): boolean => HALT_STATUSES.has(s);
export const isSuccessful = (s: WorkflowStatus): boolean => SUCCESSFUL_STATUSES.has(s);
export const isFailure = (s: WorkflowStatus): boolean => FAILURE_STATUSES.has(s);
export const isContinuable = (s: WorkflowStatus): boolean => CONTINUABLE_STATUSES.has(s);
export const isActive = (s: WorkflowStatus): boolean => ACTIVE_STATUSES.has(s);

export function isWorkflowStatus(value: unknown): value is WorkflowStatus {
  return typeof value === 'string' && Object.hasOwn(WorkflowStatus, value);
}

/** Legal transitions (engine.md §1.2). Final statuses have none. */
export const VALID_TRANSITIONS: Readonly<Record<WorkflowStatus, ReadonlySet<WorkflowStatus>>> = {
  NOT_STARTED: new Set([S.RUNNING, S.CANCELED, S.SKIPPED, S.BUFFERED, S.TERMINAL]),
  BUFFERED: new Set([S.NOT_STARTED, S.RUNNING, S.CANCELED, S.SKIPPED]),
  RUNNING: new Set([S.SUCCEEDED, S.FAILED_CONTINUE, S.TERMINAL, S.CANCELED, S.PAUSED, S.STOPPED, S.SUSPENDED, S.REDIRECT, S.SKIPPED]),
  PAUSED: new Set([S.RUNNING, S.CANCELED, S.STOPPED]),
  SUSPENDED: new Set([S.RUNNING, S.CANCELED, S.STOPPED]),
  REDIRECT: new Set([S.RUNNING, S.SUCCEEDED, S.CANCELED]),
  SUCCEEDED: new Set(),
  FAILED_CONTINUE: new Set(),
  TERMINAL: new Set(),
  CANCELED: new Set(),
  STOPPED: new Set(),
  SKIPPED: new Set(),
};

export function canTransition(from: WorkflowStatus, to: WorkflowStatus): boolean {
  return from === to || VALID_TRANSITIONS[from].has(to);
}

export function validateTransition(from: WorkflowStatus, to: WorkflowStatus, entityType: string, entityId: string): void {
  if (!canTransition(from, to)) throw new InvalidStateTransitionError(from, to, entityType, entityId);
}
