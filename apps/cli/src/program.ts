// The `stabilize` command line. Each command group registers itself from src/commands/.
import { readFileSync } from 'node:fs';
import { consoleOutput, ExitCode, type Output } from '@stabilize/cli';
import { Command, CommanderError } from 'commander';
import { registerMigrationCommands } from './commands/migrations.js';
import { registerMonitorCommand } from './commands/monitor.js';
import { registerWorkflowCommands } from './commands/workflows.js';
import type { CommandContext } from './context.js';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

export interface RunOptions {
  output?: Output;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Builds the program; `exitCode()` holds the result of the command that ran. */
export function createProgram(options: RunOptions = {}): { program: Command; exitCode(): ExitCode } {
  const output = options.output ?? consoleOutput;
  let code: ExitCode = ExitCode.OK;
  const ctx: CommandContext = { output, env: options.env ?? process.env, cwd: options.cwd ?? process.cwd(), setExitCode: (c) => (code = c) };
  const program = new Command('stabilize')
    .description('Stabilize - Workflow Engine CLI')
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => output.out(s.replace(/\n$/, '')), writeErr: (s) => output.err(s.replace(/\n$/, '')) })
    .addHelpText(
      'after',
      `
Examples:
  $ stabilize mg-up --db-url postgres://postgres:secret@localhost:5432/stabilize
  $ stabilize mg-status                 # database from MG_DATABASE_URL or ./mg.yaml
  $ stabilize list --db-url sqlite:///app.db --status running
  $ stabilize show <workflow-id> --json
  $ stabilize start deploy.yaml && stabilize cancel <workflow-id> --reason "bad build"
  $ stabilize monitor --db-url sqlite:///app.db
  $ stabilize mg-up --help              # configuration details

Exit codes: 0 ok, 1 failure, 2 usage, 3 no configuration, 4 invalid configuration,
            5 server unreachable, 6 credentials/database refused, 7 migration failed,
            8 workflow/stage/dead letter not found, 9 invalid input or state.`,
    );
  registerMigrationCommands(program, ctx);
  registerWorkflowCommands(program, ctx);
  registerMonitorCommand(program, ctx);
  return { program, exitCode: () => code };
}

/** Runs the CLI on `argv` (process.argv shape) and returns the exit code. */
export async function run(argv: readonly string[], options: RunOptions = {}): Promise<ExitCode> {
  const { program, exitCode } = createProgram(options);
  if (argv.length <= 2) {
    // No command: show the help and fail, as upstream.
    program.outputHelp();
    return ExitCode.FAILURE;
  }
  try {
    await program.parseAsync([...argv]);
    return exitCode();
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return ExitCode.OK;
      return ExitCode.USAGE;
    }
    (options.output ?? consoleOutput).err(`Error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return ExitCode.FAILURE;
  }
}
