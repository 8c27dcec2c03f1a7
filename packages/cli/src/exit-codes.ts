/**
 * Exit codes of the `stabilize` commands. Each failure class has its own code so scripts can tell
 * "fix your configuration" from "the server is down" from "a migration broke".
 */
export const ExitCode = {
  OK: 0,
  /** Unexpected failure (a bug, or a database error outside the classes below). */
  FAILURE: 1,
  /** Command-line usage error (unknown command or option). */
  USAGE: 2,
  /** No database configuration: no --db-url, no MG_DATABASE_URL, no ./mg.yaml. */
  NO_CONFIG: 3,
  /** The configuration is unusable: invalid URL, invalid schema name, malformed mg.yaml. */
  INVALID_CONFIG: 4,
  /** The server cannot be reached (refused, unknown host, timeout). */
  UNREACHABLE: 5,
  /** The server refused us: bad credentials, unknown role, missing database, no permission. */
  AUTH: 6,
  /** A migration failed (and was rolled back), or an applied migration changed under strict mode. */
  MIGRATION_FAILED: 7,
  /** The workflow, stage or dead letter does not exist. */
  NOT_FOUND: 8,
  /** Invalid input: a malformed definition file or --data, or an action the workflow's state forbids. */
  INVALID_INPUT: 9,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
