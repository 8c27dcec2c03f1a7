import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInMemoryBackend, StageExecution, TaskExecution, Workflow, WorkflowStatus } from '@stabilize/core';
import { describe, expect, it } from 'vitest';
import { CommandError } from '../src/backend.js';
import { captureOutput, ExitCode, parseDatabaseUrl, reportCommandError } from '../src/index.js';
import { listCommand, parseSignalData, parseStatuses, readDefinition, resolveStage, showCommand, startCommand } from '../src/workflows.js';

function backend() {
  const b = createInMemoryBackend();
  return { ...b, close: async () => {} };
}

describe('workflow command helpers', () => {
  it('parses statuses, signal data and definition files', () => {
    expect(parseStatuses(['running,terminal', 'Canceled'])).toEqual(['RUNNING', 'TERMINAL', 'CANCELED']);
    expect(parseStatuses(undefined)).toBeUndefined();
    expect(() => parseStatuses(['nope'])).toThrow(CommandError);
    expect(parseSignalData('{"a":1}')).toEqual({ a: 1 });
    expect(parseSignalData(undefined)).toEqual({});
    expect(() => parseSignalData('[1]')).toThrow(/JSON object/);
    expect(() => parseSignalData('{')).toThrow(/not valid JSON/);
    const dir = mkdtempSync(join(tmpdir(), 'stz-def-'));
    writeFileSync(join(dir, 'a.yml'), 'application: x\nname: y\nstages: []\n');
    expect(readDefinition(join(dir, 'a.yml'))).toEqual({ application: 'x', name: 'y', stages: [] });
    writeFileSync(join(dir, 'b.json'), '{oops');
    expect(() => readDefinition(join(dir, 'b.json'))).toThrow(/Cannot parse .* as JSON/);
  });

  it('lists, shows and starts workflows on the in-memory backend', async () => {
    const b = backend();
    const w = Workflow.create({
      application: 'app',
      name: 'wf',
      status: WorkflowStatus.TERMINAL,
      stages: [new StageExecution({ refId: 'a', status: WorkflowStatus.TERMINAL, context: { error: 'boom' }, tasks: [TaskExecution.create({ name: 't', implementingClass: 'x', stageStart: true, stageEnd: true })] })],
    });
    await b.store.store(w);
    const out = captureOutput();
    expect(await listCommand(b, out, { json: true })).toBe(ExitCode.OK);
    expect(JSON.parse(out.stdout[0]!)).toMatchObject([{ id: w.id, status: 'TERMINAL' }]);
    const newer = Workflow.create({ application: 'app', name: 'newer', stages: [] });
    await b.store.store(newer);
    const ordered = captureOutput();
    await listCommand(b, ordered, { json: true });
    expect(JSON.parse(ordered.stdout[0]!).map((x: { id: string }) => x.id)).toEqual([newer.id, w.id]); // newest first
    const oldest = captureOutput();
    await listCommand(b, oldest, { json: true, order: 'asc', limit: 1 });
    expect(JSON.parse(oldest.stdout[0]!).map((x: { id: string }) => x.id)).toEqual([w.id]);
    const shown = captureOutput();
    await showCommand(b, shown, w.id);
    expect(shown.stdout.join('\n')).toContain('error: boom');
    expect(await resolveStage(b, w.id, 'a')).toBe(w.stages[0]!.id);
    await expect(resolveStage(b, w.id, 'zz')).rejects.toThrow(/No stage 'zz'/);
    const dir = mkdtempSync(join(tmpdir(), 'stz-def-'));
    writeFileSync(join(dir, 'wf.json'), JSON.stringify({ application: 'app', name: 'new', stages: [{ refId: 'a', type: 'x' }] }));
    const started = captureOutput();
    expect(await startCommand(b, started, join(dir, 'wf.json'))).toBe(ExitCode.OK);
    expect(await b.queue.size()).toBe(1);
  });

  it('maps errors to exit codes without printing the password', () => {
    const config = parseDatabaseUrl('postgres://u:Hunter2Secret@h/db', '--db-url');
    const out = captureOutput();
    expect(reportCommandError(new CommandError('nope Hunter2Secret', ExitCode.NOT_FOUND), config, out)).toBe(ExitCode.NOT_FOUND);
    expect(out.stderr.join('\n')).not.toContain('Hunter2Secret');
  });
});
