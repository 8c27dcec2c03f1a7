// The workflow commands (list, show, start, cancel, pause, resume, restart, signal, dlq, prompt):
// wiring only; the logic lives in @stabilize/cli.
import {
  type CliBackend,
  cancelCommand,
  dlqListCommand,
  dlqReplayCommand,
  type ExitCode,
  listCommand,
  PROMPT_TEXT,
  pauseCommand,
  restartCommand,
  resumeCommand,
  showCommand,
  signalCommand,
  startCommand,
  withBackend,
  withDatabaseConfig,
} from '@stabilize/cli';
import { type Command, InvalidArgumentError } from 'commander';
import type { CommandContext } from '../context.js';

const DB_URL_HELP = 'database URL (postgres://user:pass@host:port/dbname[?schema=name] or sqlite:///file.db); default: MG_DATABASE_URL, then ./mg.yaml';

const DB_NOTE = `
The database comes from --db-url, else MG_DATABASE_URL (+ MG_SCHEMA), else ./mg.yaml.
Passwords are never printed.`;

interface Common {
  dbUrl?: string;
  json?: boolean;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function registerWorkflowCommands(program: Command, ctx: CommandContext): void {
  const withDb = (opts: Common, fn: (backend: CliBackend) => Promise<ExitCode>): Promise<void> =>
    withDatabaseConfig({ dbUrl: opts.dbUrl, env: ctx.env, cwd: ctx.cwd }, ctx.output, (config) => withBackend(config, ctx.output, fn)).then((code) => ctx.setExitCode(code));

  const command = (name: string, description: string, examples: string, json = true): Command => {
    const c = program.command(name).description(description).option('--db-url <url>', DB_URL_HELP);
    if (json) c.option('--json', 'print JSON (for scripts)');
    c.addHelpText('after', `${DB_NOTE}\n\nExamples:\n${examples}`);
    return c;
  };

  command(
    'list',
    'List workflows (id, application, name, status, start and end), newest first',
    `  $ stabilize list --db-url sqlite:///app.db
  $ stabilize list --status running --status failed_continue --application shop
  $ stabilize list --status terminal,canceled --limit 10 --json`,
  )
    .option('--status <status>', 'only this status (repeatable or comma-separated: running, succeeded, terminal, ...)', collect)
    .option('--application <name>', 'only this application')
    .option('--limit <n>', 'at most n workflows (default 50)', positiveInt)
    .option('--oldest-first', 'oldest first instead of newest first')
    .action((opts: Common & { status?: string[]; application?: string; limit?: number; oldestFirst?: boolean }) =>
      withDb(opts, (b) =>
        listCommand(b, ctx.output, {
          ...(opts.oldestFirst ? { order: 'asc' } : {}),
          ...(opts.status ? { status: opts.status } : {}),
          ...(opts.application ? { application: opts.application } : {}),
          ...(opts.limit ? { limit: opts.limit } : {}),
          ...(opts.json ? { json: true } : {}),
        }),
      ),
    );

  command(
    'show',
    'Show a workflow: its stages, tasks, outputs and errors',
    `  $ stabilize show 01JD3Z8KQ6V3X0F6P4W3M2N1AB --db-url sqlite:///app.db
  $ stabilize show 01JD3Z8KQ6V3X0F6P4W3M2N1AB --json | jq '.stages[].status'`,
  )
    .argument('<id>', 'workflow id')
    .action((id: string, opts: Common) => withDb(opts, (b) => showCommand(b, ctx.output, id, { json: opts.json ?? false })));

  command(
    'start',
    'Store a workflow from a JSON or YAML definition and queue its start (does not run tasks: a worker does)',
    `  $ stabilize start deploy.json --db-url sqlite:///app.db
  $ stabilize start pipeline.yaml --json

The file holds { application, name, stages: [{ refId, type, name, requisiteStageRefIds,
context, tasks: [{ name, implementingClass }] }], context, trigger }; unknown fields are rejected.
This command only stores the workflow and queues StartWorkflow; a worker process running a
QueueProcessor with your TaskRegistry executes the tasks.`,
  )
    .argument('<file>', 'definition file (.json, .yaml or .yml)')
    .action((file: string, opts: Common) => withDb(opts, (b) => startCommand(b, ctx.output, file, { json: opts.json ?? false })));

  command(
    'cancel',
    'Cancel a workflow (queued; a worker applies it)',
    `  $ stabilize cancel 01JD3Z8KQ6V3X0F6P4W3M2N1AB --reason "wrong version" --user alice`,
  )
    .argument('<id>', 'workflow id')
    .option('--reason <text>', 'why (stored with the workflow)')
    .option('--user <name>', 'who cancels (default: $USER)')
    .action((id: string, opts: Common & { reason?: string; user?: string }) =>
      withDb(opts, (b) => cancelCommand(b, ctx.output, id, { ...(opts.reason !== undefined ? { reason: opts.reason } : {}), ...(opts.user ? { user: opts.user } : {}), json: opts.json ?? false })),
    );

  command('pause', 'Pause a RUNNING workflow (tasks park at their next execution)', `  $ stabilize pause 01JD3Z8KQ6V3X0F6P4W3M2N1AB --user alice`)
    .argument('<id>', 'workflow id')
    .option('--user <name>', 'who pauses (default: $USER)')
    .action((id: string, opts: Common & { user?: string }) => withDb(opts, (b) => pauseCommand(b, ctx.output, id, { ...(opts.user ? { user: opts.user } : {}), json: opts.json ?? false })));

  command('resume', 'Resume a PAUSED workflow', `  $ stabilize resume 01JD3Z8KQ6V3X0F6P4W3M2N1AB`)
    .argument('<id>', 'workflow id')
    .action((id: string, opts: Common) => withDb(opts, (b) => resumeCommand(b, ctx.output, id, { json: opts.json ?? false })));

  command(
    'restart',
    'Re-run a finished stage (and the workflow from there, if it had ended)',
    `  $ stabilize restart 01JD3Z8KQ6V3X0F6P4W3M2N1AB deploy      # by stage refId
  $ stabilize restart 01JD3Z8KQ6V3X0F6P4W3M2N1AB 01JD3Z9...  # or by stage id`,
  )
    .argument('<id>', 'workflow id')
    .argument('<stage>', 'stage refId or stage id')
    .action((id: string, stage: string, opts: Common) => withDb(opts, (b) => restartCommand(b, ctx.output, id, stage, { json: opts.json ?? false })));

  command(
    'signal',
    'Send a signal to a stage (resumes a SUSPENDED stage)',
    `  $ stabilize signal 01JD3Z8KQ6V3X0F6P4W3M2N1AB approve approved --data '{"by":"alice"}'
  $ stabilize signal 01JD3Z8KQ6V3X0F6P4W3M2N1AB wait go --persistent   # buffered until the stage suspends`,
  )
    .argument('<id>', 'workflow id')
    .argument('<stage>', 'stage refId or stage id')
    .argument('<name>', 'signal name')
    .option('--data <json>', 'signal data, a JSON object')
    .option('--persistent', 'buffer the signal until the stage suspends')
    .action((id: string, stage: string, name: string, opts: Common & { data?: string; persistent?: boolean }) =>
      withDb(opts, (b) => signalCommand(b, ctx.output, id, stage, name, { ...(opts.data !== undefined ? { data: opts.data } : {}), persistent: opts.persistent ?? false, json: opts.json ?? false })),
    );

  const dlq = program.command('dlq').description('Dead letters: messages that failed every delivery attempt');
  dlq
    .command('list')
    .description('List dead letters (id, message type, workflow, attempts, error)')
    .option('--db-url <url>', DB_URL_HELP)
    .option('--json', 'print JSON (for scripts)')
    .option('--limit <n>', 'at most n dead letters (default 50)', positiveInt)
    .addHelpText('after', `${DB_NOTE}\n\nExamples:\n  $ stabilize dlq list --db-url sqlite:///app.db\n  $ stabilize dlq list --json --limit 200`)
    .action((opts: Common & { limit?: number }) => withDb(opts, (b) => dlqListCommand(b, ctx.output, { ...(opts.limit ? { limit: opts.limit } : {}), json: opts.json ?? false })));
  dlq
    .command('replay')
    .description('Put a dead letter back on the queue with a fresh attempt count')
    .argument('<id>', 'dead letter id (from dlq list)')
    .option('--db-url <url>', DB_URL_HELP)
    .option('--json', 'print JSON (for scripts)')
    .addHelpText('after', `${DB_NOTE}\n\nExamples:\n  $ stabilize dlq replay 42 --db-url sqlite:///app.db`)
    .action((id: string, opts: Common) => withDb(opts, (b) => dlqReplayCommand(b, ctx.output, id, { json: opts.json ?? false })));

  program
    .command('prompt')
    .description('Output comprehensive documentation for pipeline code generation')
    .addHelpText('after', '\nExamples:\n  $ stabilize prompt > stabilize-reference.md')
    .action(() => {
      ctx.output.out(PROMPT_TEXT.replace(/\n$/, ''));
    });
}
