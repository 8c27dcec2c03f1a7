// Backend-independent rules pinned by engine.md §14 scenarios 89-91.
import { describe, expect, it } from 'vitest';
import { evaluateReadiness } from '../dag/readiness.js';
import { InvalidStateTransitionError } from '../errors.js';
import { determineStageStatus, StageExecution } from '../model/stage-execution.js';
import { ALL_STATUSES, canTransition, COMPLETED_STATUSES, validateTransition, VALID_TRANSITIONS, WorkflowStatus } from '../model/status.js';
import { TaskExecution } from '../model/task-execution.js';

const S = WorkflowStatus;

export function modelScenarios(): void {
  describe('H. Status rules', () => {
    it('89. the transition table is exactly engine.md §1.2', () => {
      const expected: Record<string, string[]> = {
        NOT_STARTED: ['RUNNING', 'CANCELED', 'SKIPPED', 'BUFFERED', 'TERMINAL'],
        BUFFERED: ['NOT_STARTED', 'RUNNING', 'CANCELED', 'SKIPPED'],
        RUNNING: ['SUCCEEDED', 'FAILED_CONTINUE', 'TERMINAL', 'CANCELED', 'PAUSED', 'STOPPED', 'SUSPENDED', 'REDIRECT', 'SKIPPED'],
        PAUSED: ['RUNNING', 'CANCELED', 'STOPPED'],
        SUSPENDED: ['RUNNING', 'CANCELED', 'STOPPED'],
        REDIRECT: ['RUNNING', 'SUCCEEDED', 'CANCELED'],
      };
      for (const from of ALL_STATUSES) {
        for (const to of ALL_STATUSES) {
          const allowed = from === to || (expected[from] ?? []).includes(to);
          expect(canTransition(from, to), `${from} -> ${to}`).toBe(allowed);
        }
        if (COMPLETED_STATUSES.has(from)) expect(VALID_TRANSITIONS[from].size).toBe(0);
      }
      expect(() => validateTransition(S.SUCCEEDED, S.RUNNING, 'stage', 'st-1')).toThrow(InvalidStateTransitionError);
      expect(() => validateTransition(S.SUCCEEDED, S.RUNNING, 'stage', 'st-1')).toThrow('Invalid state transition for stage st-1: SUCCEEDED -> RUNNING');
    });

    it('90. determineStageStatus priorities', () => {
      const stage = (status: WorkflowStatus, tasks: WorkflowStatus[]) =>
        new StageExecution({ refId: 'x', status, tasks: tasks.map((t, i) => new TaskExecution({ name: `t${i}`, implementingClass: 'x', status: t })) });
      expect(determineStageStatus(stage(S.NOT_STARTED, []), [])).toBe(S.NOT_STARTED);
      expect(determineStageStatus(stage(S.RUNNING, [S.NOT_STARTED, S.NOT_STARTED]), [])).toBe(S.RUNNING);
      expect(determineStageStatus(stage(S.RUNNING, [S.SUCCEEDED, S.RUNNING]), [])).toBe(S.RUNNING);
      expect(determineStageStatus(stage(S.RUNNING, [S.SUCCEEDED, S.TERMINAL]), [])).toBe(S.TERMINAL);
      expect(determineStageStatus(stage(S.RUNNING, [S.PAUSED]), [])).toBe(S.PAUSED);
      const parent = stage(S.RUNNING, [S.SUCCEEDED]);
      const after = new StageExecution({ refId: 'after', status: S.RUNNING, parentStageId: parent.id, syntheticStageOwner: 'STAGE_AFTER' });
      expect(determineStageStatus(parent, [after])).toBe(S.RUNNING);
      const stopped = stage(S.RUNNING, [S.TERMINAL]);
      stopped.context.failPipeline = false;
      expect(determineStageStatus(stopped, [])).toBe(S.STOPPED);
      const soft = stage(S.RUNNING, [S.FAILED_CONTINUE, S.SUCCEEDED]);
      expect(determineStageStatus(soft, [])).toBe(S.FAILED_CONTINUE);
    });

    it('91. readiness of a stage from its upstreams', () => {
      const join = new StageExecution({ refId: 'j' });
      const up = (status: WorkflowStatus, id: string = status) => ({ id, refId: id, status });
      expect(evaluateReadiness(join, []).phase).toBe('READY');
      expect(evaluateReadiness(join, [up(S.RUNNING)], true).phase).toBe('READY');
      expect(evaluateReadiness(join, [up(S.SUCCEEDED), up(S.SKIPPED, 'b')]).phase).toBe('READY');
      for (const halted of [S.TERMINAL, S.CANCELED, S.STOPPED]) {
        const r = evaluateReadiness(join, [up(halted), up(S.RUNNING, 'other')]);
        expect(r.phase).toBe('SKIP');
        expect(r.failedUpstreamIds).toEqual([halted]);
      }
      const waiting = evaluateReadiness(join, [up(S.SUCCEEDED), up(S.RUNNING, 'r'), up(S.NOT_STARTED, 'n')]);
      expect(waiting.phase).toBe('NOT_READY');
      expect(waiting.activeUpstreamIds).toEqual(['r', 'n']);
      expect(evaluateReadiness(join, [null, up(S.SUCCEEDED), undefined]).phase).toBe('READY');
    });
  });
}
