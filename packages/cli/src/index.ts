// @stabilize/cli: the logic behind the `stabilize` binary (apps/cli), free of any argument parser.
export { CliConfigError, type ConfigSource, type DatabaseConfig, parseDatabaseUrl, parseMgYaml, type PostgresConfig, type ResolveOptions, resolveDatabaseConfig, type SqliteConfig } from './config.js';
export { ExitCode } from './exit-codes.js';
export { type MigrationCommandOptions, mgStatus, mgUp, reportFailure } from './migrations.js';
export { captureOutput, consoleOutput, type Output } from './output.js';
export { redactUrl, scrubSecret } from './redact.js';
export { withDatabaseConfig } from './run.js';
