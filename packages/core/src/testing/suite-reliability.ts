// Reliability scenarios (issue 11) that hold on every backend.
import { describe, expect, it } from 'vitest';
import type { Handler } from '../handlers/index.js';
import { WorkflowStatus } from '../model/status.js';
import { Workflow } from '../model/workflow.js';
import type { BackendFactory } from './backend.js';
import { createHarness, S } from './harness.js';

export function reliabilityScenarios(factory: BackendFactory): void {
  describe('Reliability', () => {
    it('a poison message goes to the dead letters after its attempts, blocks nothing, and replays after a fix', async () => {
      const h = await createHarness(factory);
      try {
        const processor = h.newProcessor({ retryDelayMs: 10 });
        let fixed = false;
        const handled: string[] = [];
        const poison: Handler = async (_deps, input) => {
          if (!fixed) throw new Error('this handler always fails for now');
          handled.push(input.message.type);
        };
        processor.registerHandler('CancelRegion', poison);
        await h.queue.push({ type: 'CancelRegion', executionId: 'nowhere', region: 'r' }, { maxAttempts: 3 });
        const workflow = Workflow.create({ application: 'reliability', name: 'bystander', stages: [S('a', ['success']), S('b', ['success'], ['a'])] });
        await h.orchestrator.start(workflow);
        const errors: string[] = [];
        for (let round = 0; round < 20 && (await h.queue.size()) > 0; round++) {
          try {
            await processor.processAll({ timeoutMs: 5000 });
          } catch (error) {
            errors.push((error as Error).message);
          }
        }
        expect((await h.store.retrieveWorkflowOnly(workflow.id)).status).toBe(WorkflowStatus.SUCCEEDED);
        expect(errors).toEqual(Array(3).fill('this handler always fails for now'));
        expect(await h.queue.size()).toBe(0);
        const [letter] = await h.queue.listDeadLetters();
        expect(letter!.messageType).toBe('CancelRegion');
        expect(letter!.error).toContain('this handler always fails for now');
        fixed = true;
        expect(await h.queue.replayDeadLetter(letter!.id)).toBe(true);
        await processor.processAll({ timeoutMs: 5000 });
        expect(handled).toEqual(['CancelRegion']);
        expect(await h.queue.deadLetterCount()).toBe(0);
      } finally {
        await h.close();
      }
    });
  });
}
