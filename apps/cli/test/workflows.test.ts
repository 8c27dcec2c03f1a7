// The workflow commands as a real process (node bin/stabilize.js) against a SQLite file and, when
// STABILIZE_TEST_PG_URL is set, a fresh PostgreSQL schema. The database is seeded by really running
// a succeeded, a failed and a still-running workflow.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drain, pgTarget, type Seeded, seed, sqliteTarget, type Target } from './fixtures.js';

const BIN = fileURLToPath(new URL('../bin/stabilize.js', import.meta.url));
const PG_URL = process.env.STABILIZE_TEST_PG_URL ?? '';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'stz-wf-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function stabilize(args: string[], cwd = tmp()): Promise<Result> {
  const env: Record<string, string> = {};
  for (const key of ['PATH', 'HOME', 'TMPDIR']) if (process.env[key]) env[key] = process.env[key]!;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const backends: Array<[string, () => Promise<Target>, boolean]> = [
  ['SQLite', async () => sqliteTarget(tmp()), false],
  ['PostgreSQL', () => pgTarget(PG_URL, 'cli'), !PG_URL],
];

for (const [label, makeTarget, skip] of backends) {
  describe.skipIf(skip)(`workflow commands on ${label}`, { timeout: 60_000 }, () => {
    let target: Target;
    let ids: Seeded;
    let db: string[];
    beforeAll(async () => {
      target = await makeTarget();
      db = ['--db-url', target.url];
      const b = target.open();
      ids = await seed(b.store, b.queue);
      await b.close();
    }, 30_000);
    afterAll(async () => target?.cleanup());

    it('lists workflows with filters, as a table and as JSON', async () => {
      const all = await stabilize(['list', ...db]);
      expect(all.stderr).toBe('');
      expect(all.code).toBe(0);
      expect(all.stdout).toMatch(/ID\s+APPLICATION\s+NAME\s+STATUS\s+STARTED\s+ENDED/);
      for (const id of Object.values(ids)) expect(all.stdout).toContain(id);
      const running = await stabilize(['list', ...db, '--status', 'running', '--json']);
      expect(JSON.parse(running.stdout).map((w: { id: string }) => w.id)).toEqual([ids.running]);
      const billing = await stabilize(['list', ...db, '--application', 'billing', '--json']);
      expect(JSON.parse(billing.stdout)).toMatchObject([{ id: ids.failed, status: 'TERMINAL', application: 'billing', name: 'Broken job' }]);
      const limited = await stabilize(['list', ...db, '--limit', '2', '--json']);
      expect(JSON.parse(limited.stdout).map((w: { id: string }) => w.id)).toEqual([ids.failed, ids.succeeded]); // newest first
      const oldest = await stabilize(['list', ...db, '--limit', '2', '--oldest-first', '--json']);
      expect(JSON.parse(oldest.stdout).map((w: { id: string }) => w.id)).toEqual([ids.running, ids.succeeded]);
      const bad = await stabilize(['list', ...db, '--status', 'sideways']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain("Unknown status 'sideways'");
    });

    it('shows stages, tasks, outputs and errors', async () => {
      const ok = await stabilize(['show', ids.succeeded, ...db]);
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain('Status:      SUCCEEDED');
      expect(ok.stdout).toContain('Stages:      2/2 finished');
      expect(ok.stdout).toMatch(/Stage first "First" \[SUCCEEDED\]/);
      expect(ok.stdout).toContain('- task second task (ok) [SUCCEEDED]');
      expect(ok.stdout).toContain('outputs: {"greeting":"hello"}');
      const failed = await stabilize(['show', ids.failed, ...db, '--json']);
      const json = JSON.parse(failed.stdout);
      expect(json.status).toBe('TERMINAL');
      expect(json.stages[1].status).toBe('TERMINAL');
      expect(json.stages[1].error).toContain('disk on fire');
      const missing = await stabilize(['show', 'no-such-id', ...db]);
      expect(missing.code).toBe(8);
      expect(missing.stderr).toContain('no-such-id');
    });

    it('starts a workflow from JSON and YAML (queued, not run)', async () => {
      const dir = tmp();
      writeFileSync(join(dir, 'wf.json'), JSON.stringify({ application: 'cli', name: 'From JSON', stages: [{ refId: 'a', tasks: [{ implementingClass: 'ok' }] }] }));
      writeFileSync(join(dir, 'wf.yaml'), 'application: cli\nname: From YAML\nstages:\n  - refId: a\n    tasks: [{ implementingClass: ok }]\n');
      writeFileSync(join(dir, 'bad.json'), JSON.stringify({ application: 'cli', name: 'x', stages: [], colour: 'red' }));
      const json = await stabilize(['start', 'wf.json', ...db, '--json'], dir);
      expect(json.code).toBe(0);
      const { id } = JSON.parse(json.stdout);
      const yaml = await stabilize(['start', 'wf.yaml', ...db], dir);
      expect(yaml.code).toBe(0);
      expect(yaml.stdout).toMatch(/Queued workflow \w+ \(cli \/ From YAML\)/);
      expect(yaml.stdout).toContain('a worker');
      const shown = JSON.parse((await stabilize(['show', id, ...db, '--json'])).stdout);
      expect(shown).toMatchObject({ name: 'From JSON', status: 'NOT_STARTED' });
      const bad = await stabilize(['start', 'bad.json', ...db], dir);
      expect(bad.code).toBe(9);
      expect(bad.stderr).toContain("unknown field 'colour'");
      const missing = await stabilize(['start', 'nope.json', ...db], dir);
      expect(missing.code).toBe(9);
      expect(missing.stderr).toContain('Cannot read nope.json');
    });

    it('pauses and resumes, refusing the wrong state', async () => {
      const paused = await stabilize(['pause', ids.running, ...db, '--user', 'alice']);
      expect(paused.stderr).toBe('');
      expect(paused.code).toBe(0);
      expect(JSON.parse((await stabilize(['show', ids.running, ...db, '--json'])).stdout).status).toBe('PAUSED');
      expect((await stabilize(['pause', ids.running, ...db])).code).toBe(9);
      const resumed = await stabilize(['resume', ids.running, ...db, '--json']);
      expect(JSON.parse(resumed.stdout)).toMatchObject({ action: 'resume', status: 'RUNNING' });
      expect(JSON.parse((await stabilize(['show', ids.running, ...db, '--json'])).stdout).status).toBe('RUNNING');
      expect((await stabilize(['resume', ids.succeeded, ...db])).code).toBe(9);
    });

    it('queues restart and signal by stage ref, rejecting unknown stages and bad data', async () => {
      const restart = await stabilize(['restart', ids.failed, 'second', ...db, '--json']);
      expect(restart.code).toBe(0);
      expect(JSON.parse(restart.stdout)).toMatchObject({ action: 'restart', queued: true });
      const unknown = await stabilize(['restart', ids.failed, 'third', ...db]);
      expect(unknown.code).toBe(8);
      expect(unknown.stderr).toContain("No stage 'third'");
      const signal = await stabilize(['signal', ids.running, 'second', 'approve', '--data', '{"by":"alice"}', '--persistent', ...db]);
      expect(signal.code).toBe(0);
      expect(signal.stdout).toContain("Signal 'approve' to stage second");
      const badData = await stabilize(['signal', ids.running, 'second', 'approve', '--data', '[1]', ...db]);
      expect(badData.code).toBe(9);
      expect(badData.stderr).toContain('--data must be a JSON object');
    });

    it('cancels a running workflow: a worker applies it', async () => {
      const cancel = await stabilize(['cancel', ids.running, '--reason', 'not needed', '--user', 'bob', ...db]);
      expect(cancel.code).toBe(0);
      expect(cancel.stdout).toContain(`Cancel of workflow ${ids.running} queued`);
      const b = target.open();
      try {
        await drain(b.store, b.queue);
        const w = await b.store.retrieveWorkflowOnly(ids.running);
        expect(w.status).toBe('CANCELED');
        expect(w.canceledBy).toBe('bob');
        expect(w.cancellationReason).toBe('not needed');
      } finally {
        await b.close();
      }
    }, 20_000);

    it('lists and replays dead letters', async () => {
      const empty = await stabilize(['dlq', 'list', ...db]);
      expect(empty.code).toBe(0);
      const b = target.open();
      let id: string;
      try {
        await b.queue.push({ type: 'StartWorkflow', executionId: ids.succeeded }, { maxAttempts: 1 });
        const [delivery] = await b.queue.poll({ limit: 10, leaseMs: 10_000 });
        await b.queue.moveToDeadLetters(delivery!, 'handler exploded');
        id = (await b.queue.listDeadLetters())[0]!.id;
      } finally {
        await b.close();
      }
      const listed = await stabilize(['dlq', 'list', ...db]);
      expect(listed.stdout).toMatch(/ID\s+TYPE\s+WORKFLOW\s+ATTEMPTS\s+MOVED\s+ERROR/);
      expect(listed.stdout).toContain('handler exploded');
      const json = JSON.parse((await stabilize(['dlq', 'list', ...db, '--json'])).stdout);
      expect(json).toMatchObject([{ id, messageType: 'StartWorkflow', workflowId: ids.succeeded }]);
      const replay = await stabilize(['dlq', 'replay', id, ...db]);
      expect(replay.code).toBe(0);
      expect(replay.stdout).toContain(`Dead letter ${id} is back on the queue`);
      expect((await stabilize(['dlq', 'replay', id, ...db])).code).toBe(8);
    });
  });
}

describe('workflow commands without a database', { timeout: 60_000 }, () => {
  it('has help with examples for every command, and prints the prompt', async () => {
    const help = await stabilize(['--help']);
    for (const c of ['list', 'show', 'start', 'cancel', 'pause', 'resume', 'restart', 'signal', 'dlq', 'prompt']) expect(help.stdout).toMatch(new RegExp(`\\n  ${c}\\b`));
    for (const c of [['list'], ['show'], ['start'], ['cancel'], ['signal'], ['dlq', 'list'], ['dlq', 'replay']]) {
      const r = await stabilize([...c, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Examples:');
      expect(r.stdout).toContain('--db-url');
    }
    const start = await stabilize(['start', '--help']);
    expect(start.stdout).toContain('only stores the workflow');
    const prompt = await stabilize(['prompt']);
    expect(prompt.code).toBe(0);
    expect(prompt.stdout).toContain('TaskResult.success');
    expect(prompt.stdout).toContain('requisiteStageRefIds');
  });

  it('exits 3 without configuration and never prints a password', async () => {
    const none = await stabilize(['list']);
    expect(none.code).toBe(3);
    const unreachable = await stabilize(['list', '--db-url', 'postgres://admin:Hunter2Secret@127.0.0.1:1/app']);
    expect(unreachable.code).toBe(5);
    expect(unreachable.stdout + unreachable.stderr).not.toContain('Hunter2Secret');
    const cancel = await stabilize(['cancel', 'x', '--db-url', 'postgres://admin:Hunter2Secret@127.0.0.1:1/app']);
    expect(cancel.code).toBe(5);
    expect(cancel.stdout + cancel.stderr).not.toContain('Hunter2Secret');
  });
});
