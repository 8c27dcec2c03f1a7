// Opens the store and queue of a resolved configuration and maps failures to exit codes.
import { ConfigurationError, type Queue, StageNotFoundError, ValidationError, type WorkflowStore, WorkflowNotFoundError } from '@stabilize/core';
import { createPostgresBackend } from '@stabilize/store-postgres';
import { openSqliteBackend } from '@stabilize/store-sqlite';
import type { DatabaseConfig } from './config.js';
import { ExitCode } from './exit-codes.js';
import { reportFailure } from './migrations.js';
import type { Output } from './output.js';
import { scrubSecret } from './redact.js';

export interface CliBackend {
  store: WorkflowStore;
  queue: Queue;
  close(): Promise<void>;
}

/** Opens a store and a queue on the configured database (SQLite creates its tables itself). */
export function openBackend(config: DatabaseConfig): CliBackend {
  if (config.kind === 'sqlite') return openSqliteBackend(config.url);
  const { store, queue } = createPostgresBackend(config.url, config.schema ? { schema: config.schema } : {});
  return {
    store,
    queue,
    async close() {
      await queue.close();
      await store.close();
    },
  };
}

/** A user-facing failure with its exit code (not found, invalid input, ...). */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

/** Prints `error` (password scrubbed) and returns its exit code. */
export function reportCommandError(error: unknown, config: DatabaseConfig, output: Output): ExitCode {
  const secret = config.kind === 'postgres' ? config.password : null;
  const message = scrubSecret(error instanceof Error ? error.message : String(error), secret);
  if (error instanceof CommandError) {
    output.err(`Error: ${message}`);
    if (error.hint) output.err(error.hint);
    return error.exitCode;
  }
  if (error instanceof WorkflowNotFoundError || error instanceof StageNotFoundError) {
    output.err(`Error: ${message}`);
    return ExitCode.NOT_FOUND;
  }
  if (error instanceof ValidationError) {
    output.err(`Error: ${message}`);
    return ExitCode.INVALID_INPUT;
  }
  if (error instanceof ConfigurationError) {
    output.err(`Error: ${message}`);
    if (config.kind === 'postgres' && !message.includes('mg-up')) output.err('Run `stabilize mg-up` first if the tables do not exist yet.');
    return ExitCode.INVALID_CONFIG;
  }
  if (config.kind === 'postgres') return reportFailure(error, config, output, ExitCode.FAILURE);
  output.err(`Error: ${message}`);
  return ExitCode.FAILURE;
}

/** Opens the backend, runs `fn`, closes the backend; failures become messages and exit codes. */
export async function withBackend(config: DatabaseConfig, output: Output, fn: (backend: CliBackend) => Promise<ExitCode>): Promise<ExitCode> {
  let backend: CliBackend;
  try {
    backend = openBackend(config);
  } catch (error) {
    return reportCommandError(error, config, output);
  }
  try {
    return await fn(backend);
  } catch (error) {
    return reportCommandError(error, config, output);
  } finally {
    await backend.close().catch(() => undefined);
  }
}
