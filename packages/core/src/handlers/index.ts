import type { Message, MessageOf, MessageType } from '../messages/messages.js';
import type { HandlerDeps, HandlerInput } from './deps.js';
import { handleAddMultiInstance } from './add-multi-instance.js';
import { handleCancelRegion } from './cancel-region.js';
import { handleCancelStage } from './cancel-stage.js';
import { handleCancelWorkflow } from './cancel-workflow.js';
import { handleCompleteStage } from './complete-stage.js';
import { handleCompleteMultiInstance } from './complete-multi-instance.js';
import { handleCompleteTask } from './complete-task.js';
import { handleCompleteWorkflow } from './complete-workflow.js';
import { handleContinueParentStage } from './continue-parent-stage.js';
import { handleJumpToStage } from './jump-to-stage.js';
import { handlePauseTask, handleRestartStage, handleResumeStage, handleSignalStage } from './operator.js';
import { handleRunTask } from './run-task.js';
import { handleSkipStage } from './skip-stage.js';
import { handleStartStage } from './start-stage.js';
import { handleStartTask } from './start-task.js';
import { handleStartWaitingWorkflows } from './start-waiting-workflows.js';
import { handleStartWorkflow } from './start-workflow.js';
import { handleTerminateWorkflow } from './terminate-workflow.js';

export type Handler<M extends Message = Message> = (deps: HandlerDeps, input: HandlerInput<M>) => Promise<void>;
export type HandlerMap = { [T in MessageType]?: Handler<MessageOf<T>> };

/** Diagnostic markers for references to entities that no longer exist: logged, then dropped. */
const logInvalid: Handler = async (deps, input) => {
  deps.logger.warn(`Dropped message for a missing entity: ${input.message.type}`, { message: input.message });
};

export function defaultHandlers(): HandlerMap {
  return {
    StartWorkflow: handleStartWorkflow,
    StartStage: handleStartStage,
    StartTask: handleStartTask,
    RunTask: handleRunTask,
    CompleteTask: handleCompleteTask,
    CompleteStage: handleCompleteStage,
    CompleteWorkflow: handleCompleteWorkflow,
    SkipStage: handleSkipStage,
    CancelStage: handleCancelStage,
    CancelWorkflow: handleCancelWorkflow,
    ContinueParentStage: handleContinueParentStage,
    JumpToStage: handleJumpToStage,
    RestartStage: handleRestartStage,
    PauseTask: handlePauseTask,
    ResumeStage: handleResumeStage,
    SignalStage: handleSignalStage,
    StartWaitingWorkflows: handleStartWaitingWorkflows,
    CancelRegion: handleCancelRegion,
    AddMultiInstance: handleAddMultiInstance,
    CompleteMultiInstance: handleCompleteMultiInstance,
    TerminateWorkflow: handleTerminateWorkflow,
    InvalidWorkflowId: logInvalid,
    InvalidStageId: logInvalid,
    InvalidTaskId: logInvalid,
    InvalidTaskType: logInvalid,
  };
}
