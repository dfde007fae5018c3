/** Async-mode tasks (`?async=true`). */
export type TaskStatus = 'Queued' | 'Running' | 'Succeeded' | 'Failed';

export interface TaskResult {
  status: number;
  body: unknown;
}

export interface Task {
  id: string;
  credentialsId: string;
  endpoint: string;
  providerId: string;
  status: TaskStatus;
  requestUri: string;
  requestTimestamp: string;
  resultsUri: string;
  webhookUri?: string;
  result?: TaskResult;
  createdAt: number;
  /** Clock time at which the task finished. */
  completedAt?: number;
  kind: 'endpoint' | 'batch';
}

export interface WebhookRecord {
  task_id: string;
  url: string;
  outcome: 'delivered' | 'failed' | 'dropped';
  http_status?: number;
  error?: string;
  at: string;
  body: Record<string, unknown>;
}

export class TaskStore {
  private readonly tasks = new Map<string, Task>();

  add(task: Task): Task {
    this.tasks.set(task.id, task);
    return task;
  }

  get(id: string): Task | undefined {
    return this.tasks.get(id);
  }

  latestBatch(credentialsId: string): Task | undefined {
    let latest: Task | undefined;
    for (const t of this.tasks.values()) {
      if (t.kind === 'batch' && t.credentialsId === credentialsId && (!latest || t.createdAt >= latest.createdAt)) latest = t;
    }
    return latest;
  }

  all(): Task[] {
    return [...this.tasks.values()];
  }

  clear(): void {
    this.tasks.clear();
  }
}
