// `stabilize mg-up` and `stabilize mg-status`: wiring only; the logic lives in @stabilize/cli.
import { type ExitCode, mgStatus, mgUp, withDatabaseConfig } from '@stabilize/cli';
import type { Command } from 'commander';
import type { CommandContext } from '../context.js';

const DB_URL_HELP = 'database URL (postgres://user:pass@host:port/dbname[?schema=name]); default: MG_DATABASE_URL, then ./mg.yaml';

const CONFIG_HELP = `
Configuration (first found wins):
  --db-url URL         postgres://user:password@host:5432/dbname[?schema=name]
  MG_DATABASE_URL      the same URL in the environment
  ./mg.yaml            database: {host, port, user, password, dbname, schema}
  MG_SCHEMA            overrides the schema of MG_DATABASE_URL or mg.yaml (not of --db-url)`;

export function registerMigrationCommands(program: Command, ctx: CommandContext): void {
  const run = (command: typeof mgUp, opts: { dbUrl?: string }): Promise<ExitCode> =>
    withDatabaseConfig({ dbUrl: opts.dbUrl, env: ctx.env, cwd: ctx.cwd }, ctx.output, (config) => command(config, ctx.output));

  program
    .command('mg-up')
    .description('Apply pending PostgreSQL migrations')
    .option('--db-url <url>', DB_URL_HELP)
    .addHelpText(
      'after',
      `${CONFIG_HELP}

Examples:
  $ stabilize mg-up --db-url postgres://postgres:secret@localhost:5432/stabilize
  $ MG_DATABASE_URL=postgres://postgres@db/app MG_SCHEMA=workflows stabilize mg-up
  $ stabilize mg-up          # reads ./mg.yaml

Set STABILIZE_STRICT_MIGRATIONS=1 to fail when an applied migration file has changed.`,
    )
    .action(async (opts: { dbUrl?: string }) => {
      ctx.setExitCode(await run(mgUp, opts));
    });

  program
    .command('mg-status')
    .description('Show migration status')
    .option('--db-url <url>', DB_URL_HELP)
    .addHelpText(
      'after',
      `${CONFIG_HELP}

Examples:
  $ stabilize mg-status --db-url "postgres://postgres@localhost/stabilize?schema=workflows"
  $ stabilize mg-status --db-url sqlite:///app.db   # SQLite needs no migrations`,
    )
    .action(async (opts: { dbUrl?: string }) => {
      ctx.setExitCode(await run(mgStatus, opts));
    });
}
