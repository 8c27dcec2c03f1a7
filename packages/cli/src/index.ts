// @stabilize/cli: the logic behind the `stabilize` binary (apps/cli), free of any argument parser.
export { CliConfigError, type ConfigSource, type DatabaseConfig, parseDatabaseUrl, parseMgYaml, type PostgresConfig, type ResolveOptions, resolveDatabaseConfig, type SqliteConfig } from './config.js';
export { ExitCode } from './exit-codes.js';
export { type MigrationCommandOptions, mgStatus, mgUp, reportFailure } from './migrations.js';
export { captureOutput, consoleOutput, type Output } from './output.js';
export { redactUrl, scrubSecret } from './redact.js';
export { withDatabaseConfig } from './run.js';
export { type CliBackend, CommandError, openBackend, reportCommandError, withBackend } from './backend.js';
export { PROMPT_TEXT } from './prompt.js';
export {
  cancelCommand,
  dlqListCommand,
  dlqReplayCommand,
  formatDuration,
  formatTime,
  type ListOptions,
  listCommand,
  parseSignalData,
  parseStatuses,
  pauseCommand,
  readDefinition,
  resolveStage,
  restartCommand,
  resumeCommand,
  showCommand,
  signalCommand,
  startCommand,
  workflowJson,
} from './workflows.js';
