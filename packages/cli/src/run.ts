import { CliConfigError, type DatabaseConfig, type ResolveOptions, resolveDatabaseConfig } from './config.js';
import { ExitCode } from './exit-codes.js';
import type { Output } from './output.js';

/**
 * Resolves the database configuration, then runs `command` with it. Configuration problems are
 * printed (`Error: ...` and a hint) and become their exit code; the password is never printed.
 */
export async function withDatabaseConfig(options: ResolveOptions, output: Output, command: (config: DatabaseConfig) => Promise<ExitCode>): Promise<ExitCode> {
  let config: DatabaseConfig;
  try {
    config = resolveDatabaseConfig(options);
  } catch (error) {
    if (!(error instanceof CliConfigError)) throw error;
    output.err(`Error: ${error.message}`);
    if (error.hint) output.err(error.hint);
    return error.exitCode;
  }
  return command(config);
}

export { ExitCode };
