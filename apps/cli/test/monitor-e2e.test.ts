// `stabilize monitor` end to end: the real binary in a tmux pane (120x30) against a SQLite file and,
// when STABILIZE_TEST_PG_URL is set, a fresh PostgreSQL schema, seeded with a running, a succeeded
// and a failed workflow (and a 20-stage one for scrolling the details pane). Keys are sent with
// send-keys; the screen is read with capture-pane.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { StageExecution, TaskExecution, Workflow } from '../../../packages/core/src/index.js';
import { drain, pgTarget, seed, sqliteTarget, type Target } from './fixtures.js';

const BIN = fileURLToPath(new URL('../bin/stabilize.js', import.meta.url));
const PG_URL = process.env.STABILIZE_TEST_PG_URL ?? '';
let hasTmux = true;
try {
  execFileSync('tmux', ['-V']);
} catch {
  hasTmux = false;
}
const SOCKET = `stz-e2e-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const dirs: string[] = [];

afterAll(() => {
  try {
    tmux('kill-server');
  } catch {
    // no server left
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function screenUntil(session: string, check: (screen: string) => boolean, ms = 15_000): Promise<string> {
  const end = Date.now() + ms;
  let screen = '';
  while (Date.now() < end) {
    screen = tmux('capture-pane', '-p', '-t', session);
    if (check(screen)) return screen;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`screen never matched; last screen:\n${screen}`);
}

function sessionAlive(session: string): boolean {
  try {
    tmux('has-session', '-t', session);
    return true;
  } catch {
    return false;
  }
}

async function makeTarget(kind: 'sqlite' | 'pg'): Promise<Target> {
  if (kind === 'pg') return pgTarget(PG_URL, 'mon');
  const dir = mkdtempSync(join(tmpdir(), 'stz-mon-'));
  dirs.push(dir);
  return sqliteTarget(dir);
}

// Without tmux the end-to-end test cannot run; that is allowed on a user's machine, not in CI
// (CI=true: the test runs and fails loudly instead of skipping).
const noTmux = !hasTmux && process.env.CI !== 'true';
const cases: Array<['sqlite' | 'pg', boolean]> = [
  ['sqlite', noTmux],
  ['pg', noTmux || !PG_URL],
];

for (const [kind, skip] of cases) {
  describe.skipIf(skip)(`stabilize monitor in tmux (${kind})`, () => {
    it('shows the workflows newest first, help, a scrolling details pane, cancels with a typed reason, follows a resize, and quits', async () => {
      const target = await makeTarget(kind);
      try {
        const b = target.open();
        // A workflow with 20 stages (40 detail lines), created first so it is listed last.
        const big = Workflow.create({
          application: 'ops',
          name: 'Many stages',
          stages: Array.from({ length: 20 }, (_, i) => new StageExecution({ refId: `p${String(i + 1).padStart(2, '0')}`, type: 'step', name: `Step ${i + 1}`, tasks: [TaskExecution.create({ name: `task ${i + 1}`, implementingClass: 'ok', stageStart: true, stageEnd: true })] })),
        });
        await b.store.store(big);
        const ids = await seed(b.store, b.queue);
        await b.close();
        const session = `mon-${kind}`;
        const env = `PATH=${process.env.PATH} HOME=${process.env.HOME ?? '/tmp'} TERM=xterm-256color USER=e2e`;
        tmux('new-session', '-d', '-x', '120', '-y', '30', '-s', session, `env -i ${env} ${process.execPath} ${BIN} monitor --db-url '${target.url}' --refresh 0.5; echo EXIT=$?; sleep 30`);
        let screen = await screenUntil(session, (s) => s.includes('Broken job') && s.includes('dead letters'));
        expect(screen).toContain('Stabilize monitor');
        expect(screen).toMatch(/shop\/Long job\s+RUNNING\s+1\/2/);
        expect(screen).toMatch(/shop\/Quick job\s+SUCCEEDED\s+2\/2/);
        expect(screen).toMatch(/billing\/Broken job ! disk on fire\s+TERMINAL/);
        expect(screen).not.toMatch(/:[^@/\s]+@/); // no password in the header
        // Newest first: the failed workflow (seeded last) on top, the big one (stored first) last.
        expect(screen.indexOf('Broken job')).toBeLessThan(screen.indexOf('Long job'));
        expect(screen.indexOf('Long job')).toBeLessThan(screen.indexOf('Many stages'));
        expect(screen).toMatch(/> billing\/Broken job/);
        expect(screen).toContain('refresh 0.5s');
        expect(screen).toMatch(/queue \d+\s+processing \d+\s+dead letters 0\s+shown 4\s+running 1\s+failed 1\s/);
        // The help overlay lists every key; ? closes it again.
        tmux('send-keys', '-t', session, '?');
        screen = await screenUntil(session, (s) => s.includes('show / hide this help'));
        for (const text of ['scroll the details pane by a line', 'refresh faster / slower', 'jump to the next failed workflow', 'copy the selected id']) expect(screen).toContain(text);
        expect(screen).not.toContain('Long job');
        tmux('send-keys', '-t', session, '?');
        await screenUntil(session, (s) => s.includes('Long job') && !s.includes('show / hide this help'));
        // + makes the refresh faster (shown in the status bar).
        tmux('send-keys', '-t', session, '+');
        await screenUntil(session, (s) => s.includes('refresh 0.25s'));
        // The details pane of the 20-stage workflow scrolls with J/K and D/U.
        tmux('send-keys', '-t', session, 'G');
        await screenUntil(session, (s) => /> ops\/Many stages/.test(s));
        tmux('send-keys', '-t', session, 'Enter');
        screen = await screenUntil(session, (s) => s.includes('lines 1-10/40'));
        expect(screen).toContain('p01 Step 1 NOT_STARTED');
        tmux('send-keys', '-t', session, 'J');
        screen = await screenUntil(session, (s) => s.includes('lines 2-11/40'));
        expect(screen).not.toContain('p01 Step 1 ');
        tmux('send-keys', '-t', session, 'D');
        screen = await screenUntil(session, (s) => s.includes('lines 11-20/40'));
        expect(screen).toContain('p06 Step 6');
        tmux('send-keys', '-t', session, 'K');
        await screenUntil(session, (s) => s.includes('lines 10-19/40'));
        tmux('send-keys', '-t', session, 'Enter'); // close the pane
        await screenUntil(session, (s) => !s.includes('lines 10-19/40'));
        // Expand the running workflow, then cancel it.
        tmux('send-keys', '-t', session, 'k');
        await screenUntil(session, (s) => /> shop\/Long job/.test(s));
        tmux('send-keys', '-t', session, 'Enter');
        screen = await screenUntil(session, (s) => s.includes('· second task (wait) RUNNING'));
        tmux('send-keys', '-t', session, 'c');
        await screenUntil(session, (s) => s.includes('reason'));
        tmux('send-keys', '-t', session, '-l', 'operator says stop');
        await screenUntil(session, (s) => s.includes('operator says stop'));
        tmux('send-keys', '-t', session, 'Enter');
        await screenUntil(session, (s) => s.includes('(y/n)'));
        tmux('send-keys', '-t', session, 'y');
        await screenUntil(session, (s) => s.includes('cancel sent'));
        // A worker applies the queued cancel; the monitor shows it.
        const w = target.open();
        try {
          await drain(w.store, w.queue);
          const wf = await w.store.retrieveWorkflowOnly(ids.running);
          expect(wf.status).toBe('CANCELED');
          expect(wf.cancellationReason).toBe('operator says stop');
          expect(wf.canceledBy).toBe('e2e');
        } finally {
          await w.close();
        }
        await screenUntil(session, (s) => /shop\/Long job\s+CANCELED/.test(s));
        // Resize to 80x24: the layout follows.
        tmux('resize-window', '-t', session, '-x', '80', '-y', '24');
        screen = await screenUntil(session, (s) => s.split('\n').every((line) => line.length <= 80) && s.includes('Broken job') && /run 0\s+fail 2\s/.test(s));
        expect(screen).not.toMatch(/TIME\s+STARTED/); // the start column is dropped below 100 columns
        // The status bar fits; its counts cover the database (CANCELED counts as failed).
        expect(screen).toMatch(/queue \d+\s+proc \d+\s+dlq 0\s+shown 4\s+run 0\s+fail 2\s+refresh 0.25s\s+updated \d\d:\d\d:\d\dZ/);
        // The help overlay fits 80x24 too.
        tmux('send-keys', '-t', session, '?');
        screen = await screenUntil(session, (s) => s.includes('show / hide this help'));
        expect(screen.split('\n').every((line) => line.length <= 80)).toBe(true);
        expect(screen).toMatch(/q {2}Ctrl-C\s+quit/);
        tmux('send-keys', '-t', session, 'Escape');
        await screenUntil(session, (s) => s.includes('Broken job'));
        // q (SQLite) or Ctrl-C (PostgreSQL) quits with exit code 0.
        tmux('send-keys', '-t', session, kind === 'sqlite' ? 'q' : 'C-c');
        await screenUntil(session, (s) => s.includes('EXIT=0'), 10_000);
        expect(sessionAlive(session)).toBe(true);
        tmux('kill-session', '-t', session);
      } finally {
        await target.cleanup();
      }
    }, 90_000);
  });
}

// Non-interactive use: piped output prints one snapshot (no TUI), as JSON with --json.
describe('stabilize monitor without a terminal', () => {
  it('prints one snapshot and exits 0', async () => {
    const target = await makeTarget('sqlite');
    const b = target.open();
    const ids = await seed(b.store, b.queue);
    await b.close();
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, 'monitor', '--db-url', target.url, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    const text = await run([]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/queue \d+\s+dead letters 0\s+workflows 3/);
    expect(text.stdout).toContain('disk on fire');
    const json = await run(['--json', '--status', 'failed']);
    expect(JSON.parse(json.stdout).workflows.map((w: { id: string }) => w.id)).toEqual([ids.failed]);
  }, 30_000);
});
