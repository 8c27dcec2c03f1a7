import { ulid } from '../ids.js';
import { WorkflowStatus } from './status.js';

export interface TaskExecutionInit {
  id?: string;
  name: string;
  /** Registry key of the Task implementation. */
  implementingClass: string;
  status?: WorkflowStatus;
  startTime?: number | null;
  endTime?: number | null;
  stageStart?: boolean;
  stageEnd?: boolean;
  loopStart?: boolean;
  loopEnd?: boolean;
  taskExceptionDetails?: Record<string, unknown>;
  version?: number;
}

/** One step of a stage. A stage's tasks run strictly in list order, one at a time. */
export class TaskExecution {
  id: string;
  name: string;
  implementingClass: string;
  status: WorkflowStatus;
  startTime: number | null;
  endTime: number | null;
  /** Informational: the first task of its stage (set at planning). */
  stageStart: boolean;
  /** Informational: the last task of its stage. The stage ends after its last task (position), see decisions Q19. */
  stageEnd: boolean;
  loopStart: boolean;
  loopEnd: boolean;
  taskExceptionDetails: Record<string, unknown>;
  version: number;

  constructor(init: TaskExecutionInit) {
    this.id = init.id ?? ulid();
    this.name = init.name;
    this.implementingClass = init.implementingClass;
    this.status = init.status ?? WorkflowStatus.NOT_STARTED;
    this.startTime = init.startTime ?? null;
    this.endTime = init.endTime ?? null;
    this.stageStart = init.stageStart ?? false;
    this.stageEnd = init.stageEnd ?? false;
    this.loopStart = init.loopStart ?? false;
    this.loopEnd = init.loopEnd ?? false;
    this.taskExceptionDetails = init.taskExceptionDetails ?? {};
    this.version = init.version ?? 0;
  }

  static create(init: TaskExecutionInit): TaskExecution {
    return new TaskExecution(init);
  }

  /** Back to NOT_STARTED for a re-run (jump, restart). */
  reset(): void {
    this.status = WorkflowStatus.NOT_STARTED;
    this.startTime = null;
    this.endTime = null;
    this.taskExceptionDetails = {};
  }

  clone(): TaskExecution {
    return new TaskExecution({ ...this, taskExceptionDetails: structuredClone(this.taskExceptionDetails) });
  }
}
