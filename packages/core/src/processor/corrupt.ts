// What the processor does with data no retry can fix (decision "Corrupt rows end their workflow"):
// the workflow the bad row or message belongs to ends TERMINAL, the message goes to the dead
// letters at once with the error naming table, row and column, and nothing else stops.
import { CorruptDataError, CorruptRowError, errorMessage, WorkflowNotFoundError } from '../errors.js';
import type { HandlerDeps } from '../handlers/deps.js';
import { isMessageType } from '../messages/messages.js';
import { isComplete, WorkflowStatus } from '../model/status.js';
import type { Delivery, Queue, WorkflowStore } from '../store/interfaces.js';
import { Transaction } from '../store/transaction.js';

const executionIdOf = (message: unknown): string | null => {
  const id = message !== null && typeof message === 'object' ? (message as { executionId?: unknown }).executionId : undefined;
  return typeof id === 'string' && id !== '' ? id : null;
};

/**
 * The error for a delivered message that is not a message the engine knows (not an object, no
 * string `type`, or an unknown type); null for a known type whose handler is simply missing.
 */
export function corruptMessageError(delivery: Delivery): CorruptRowError | null {
  const message: unknown = delivery.message;
  const type = message !== null && typeof message === 'object' ? (message as { type?: unknown }).type : undefined;
  if (isMessageType(type)) return null;
  const problem = typeof type === 'string' ? `Unknown message type ${JSON.stringify(type)}` : 'Expected a message object with a string type';
  return new CorruptRowError({ table: 'queue_messages', rowId: delivery.id, workflowId: executionIdOf(message), column: 'payload' }, problem);
}

/** Marks the affected workflow TERMINAL (unless it already ended) and dead-letters the delivery. */
export async function quarantineCorrupt(deps: HandlerDeps, queue: Queue, store: WorkflowStore, delivery: Delivery, error: CorruptDataError): Promise<void> {
  const workflowId = (error instanceof CorruptRowError ? error.workflowId : null) ?? executionIdOf(delivery.message);
  const text = `${error.name}: ${errorMessage(error)}`;
  let marked = false;
  if (workflowId !== null) {
    try {
      marked = await markTerminal(store, workflowId, deps.clock.now());
    } catch (markError) {
      deps.logger.error('Could not mark the workflow of a corrupt row', { workflowId, error: errorMessage(markError) });
    }
  }
  deps.logger.error('Corrupt data: message dead-lettered', {
    type: (delivery.message as { type?: unknown } | null)?.type,
    workflowId,
    markedTerminal: marked,
    error: text,
    ...(error instanceof CorruptRowError ? { table: error.table, rowId: error.rowId, column: error.column } : {}),
  });
  await queue.moveToDeadLetters(delivery, text).catch((dlqError: unknown) => {
    deps.logger.error('Could not dead-letter a corrupt message', { id: delivery.id, error: errorMessage(dlqError) });
  });
}

/** TERMINAL with an end time, without decoding more than the workflow row (which may be the bad one). */
export async function markTerminal(store: WorkflowStore, workflowId: string, now: number): Promise<boolean> {
  try {
    const workflow = await store.retrieveWorkflowOnly(workflowId);
    if (isComplete(workflow.status)) return false;
  } catch (readError) {
    if (readError instanceof WorkflowNotFoundError) return false;
    if (!(readError instanceof CorruptDataError)) throw readError;
  }
  await store.commit(new Transaction().updateWorkflow({ id: workflowId }, { status: WorkflowStatus.TERMINAL, endTime: now }));
  return true;
}
