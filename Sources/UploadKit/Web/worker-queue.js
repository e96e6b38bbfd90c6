// The page's worker queue: at most `concurrency` chunk requests in flight,
// and a new one started the moment one ends, so the slots never idle while
// work remains (never one by one, never all at once). A failed task leaves its
// slot while it backs off, so one bad chunk does not hold up the others.

/**
 * @template T
 * @typedef {import('./types').QueueTask<T>} QueueTask
 */
/**
 * @template T
 * @typedef {import('./types').WorkerQueue<T>} WorkerQueueContract
 */
/** @typedef {import('./types').RetryPolicy} RetryPolicy */

/** The rejection of a task removed from the queue before it ran (a pause, a failed upload). */
export class QueueRemovedError extends Error {
  constructor() {
    super('removed from the queue');
    this.name = 'QueueRemovedError';
  }
}

/**
 * @template T
 * @typedef {{task: QueueTask<T>, attempt: number, resolve: (value: T) => void, reject: (error: unknown) => void, timer?: ReturnType<typeof setTimeout>}} Entry
 */

/**
 * @template T
 * @implements {WorkerQueueContract<T>}
 */
export class WorkerQueue {
  /**
   * @param {{concurrency?: number, retry?: Partial<RetryPolicy>}} [options]
   */
  constructor(options = {}) {
    this.concurrency = WorkerQueue.clamp(options.concurrency ?? 3);
    /** @type {RetryPolicy} */
    this.retry = { attempts: 5, baseDelayMs: 500, maxDelayMs: 4000, ...options.retry };
    /** @type {Entry<T>[]} ready to run, in order */
    this.ready = [];
    /** @type {Set<Entry<T>>} waiting out a backoff */
    this.backingOff = new Set();
    this.running = 0;
    this.maxRunning = 0;
  }

  /** @param {number} n */
  static clamp(n) {
    return Math.max(1, Math.min(16, Math.floor(Number.isFinite(n) ? n : 3)));
  }

  get waiting() {
    return this.ready.length + this.backingOff.size;
  }

  /**
   * @param {QueueTask<T>} task
   * @returns {Promise<T>}
   */
  push(task) {
    return new Promise((resolve, reject) => {
      this.ready.push({ task, attempt: 1, resolve, reject });
      this.pump();
    });
  }

  /**
   * @param {(task: QueueTask<T>) => boolean} predicate
   * @returns {number} how many were removed
   */
  remove(predicate) {
    let removed = 0;
    const removedError = new QueueRemovedError();
    this.ready = this.ready.filter((entry) => {
      if (!predicate(entry.task)) return true;
      entry.reject(removedError);
      removed++;
      return false;
    });
    for (const entry of [...this.backingOff]) {
      if (!predicate(entry.task)) continue;
      clearTimeout(entry.timer);
      this.backingOff.delete(entry);
      entry.reject(removedError);
      removed++;
    }
    return removed;
  }

  /** @param {number} concurrency */
  setConcurrency(concurrency) {
    this.concurrency = WorkerQueue.clamp(concurrency);
    this.pump();
  }

  /** Starts tasks until every slot is busy or nothing is ready. */
  pump() {
    while (this.running < this.concurrency && this.ready.length > 0) {
      const entry = /** @type {Entry<T>} */ (this.ready.shift());
      this.start(entry);
    }
  }

  /** @param {Entry<T>} entry */
  start(entry) {
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    // run() may throw synchronously; treat that like a rejection.
    Promise.resolve()
      .then(() => entry.task.run(entry.attempt))
      .then(
        (value) => {
          this.running--;
          entry.resolve(value);
          this.pump();
        },
        (error) => {
          this.running--;
          this.failed(entry, error);
          this.pump();
        },
      );
  }

  /**
   * @param {Entry<T>} entry
   * @param {unknown} error
   */
  failed(entry, error) {
    let retry = false;
    try {
      retry = entry.attempt < this.retry.attempts && entry.task.retryable(error);
    } catch {
      retry = false;
    }
    if (!retry) {
      entry.reject(error);
      return;
    }
    // 0.5 s, 1 s, 2 s, 4 s: doubling, capped, with a little jitter so that
    // chunks that failed together do not all come back together.
    const base = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (entry.attempt - 1));
    const delay = Math.round(base * (0.9 + Math.random() * 0.2));
    entry.attempt++;
    entry.task.onRetry?.(error, entry.attempt, delay);
    this.backingOff.add(entry);
    entry.timer = setTimeout(() => {
      this.backingOff.delete(entry);
      // A retry goes first: it has waited already.
      this.ready.unshift(entry);
      this.pump();
    }, delay);
  }
}
