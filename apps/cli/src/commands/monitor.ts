// `stabilize monitor`: the live Ink dashboard (apps/monitor) over the configured database.
import { type ExitCode, formatDuration, withBackend, withDatabaseConfig } from '@stabilize/cli';
import { type Filter, MonitorData, runMonitor, STATUS_FILTERS, type StatusFilter } from '@stabilize/monitor';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { CommandContext } from '../context.js';

interface MonitorOptions {
  dbUrl?: string;
  app?: string;
  status: StatusFilter;
  refresh: number;
  once?: boolean;
  json?: boolean;
  limit: number;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

export function registerMonitorCommand(program: Command, ctx: CommandContext): void {
  program
    .command('monitor')
    .description('Real-time workflow monitoring dashboard (htop-like)')
    .option('--db-url <url>', 'Database URL (postgres://... or sqlite:///...); default: MG_DATABASE_URL, then ./mg.yaml')
    .option('--app <name>', 'Filter by application name')
    .option('--refresh <seconds>', 'Refresh interval in seconds (default: 2)', positiveNumber, 2)
    .addOption(new Option('--status <filter>', 'Filter workflows by status (default: all)').choices([...STATUS_FILTERS]).default('all'))
    .option('--once', 'print one snapshot and exit (automatic when stdout or stdin is not a terminal)')
    .option('--json', 'with --once: print the snapshot as JSON')
    .option('--limit <n>', 'with --once: at most n workflows (default 50)', positiveNumber, 50)
    .addHelpText(
      'after',
      `
Keys: ↑↓/j k move · g/G first/last · Enter/space details pane · J/K D/U scroll it
      f follow · e next failed · s status filter · / text filter · a application filter
      +/- refresh faster/slower · y copy id · c cancel (typed reason) · p pause · r resume
      R restart a stage · S signal a stage · ? help overlay · q or Ctrl-C quit
Every action asks for confirmation (y/n). The password of the URL is never shown.

Examples:
  $ stabilize monitor --db-url sqlite:///app.db
  $ stabilize monitor --db-url "postgres://postgres@localhost/app?schema=wf" --status running
  $ stabilize monitor --once --json | jq '.workflows[] | select(.status=="TERMINAL")'`,
    )
    .action(async (opts: MonitorOptions) => {
      const code = await withDatabaseConfig({ dbUrl: opts.dbUrl, env: ctx.env, cwd: ctx.cwd }, ctx.output, (config) =>
        withBackend(config, ctx.output, async (backend): Promise<ExitCode> => {
          const data = new MonitorData(backend);
          const filter: Filter = { status: opts.status, application: opts.app ?? '', text: '' };
          const interactive = !opts.once && process.stdout.isTTY === true && process.stdin.isTTY === true;
          if (!interactive) {
            const snap = await data.snapshot(filter, Math.floor(opts.limit));
            if (opts.json) ctx.output.out(JSON.stringify(snap, null, 2));
            else {
              ctx.output.out(`queue ${snap.queueDepth}  dead letters ${snap.deadLetters}  workflows ${snap.workflows.length}`);
              for (const w of snap.workflows)
                ctx.output.out(
                  `${w.id}  ${w.status.padEnd(15)} ${`${w.stagesDone}/${w.stagesTotal}`.padEnd(5)} ${formatDuration(w.startTime, w.endTime).padEnd(7)} ${w.application}/${w.name}${w.error ? `  ! ${w.error}` : ''}`,
                );
            }
            return 0;
          }
          await runMonitor(data, { refreshMs: opts.refresh * 1000, filter, user: ctx.env.USER ?? 'monitor', source: config.display });
          return 0;
        }),
      );
      ctx.setExitCode(code);
    });
}
