// A binary-heap priority queue and a task scheduler on top of it (ES module).

export class EmptyQueueError extends Error {
  constructor() {
    super('priority queue is empty');
    this.name = 'EmptyQueueError';
  }
}

export class PriorityQueue {
  /** @param {(a: any, b: any) => number} compare negative when a comes first */
  constructor(compare = (a, b) => a - b) {
    if (typeof compare !== 'function') throw new TypeError('compare must be a function');
    this.compare = compare;
    this.heap = [];
  }

  get size() {
    return this.heap.length;
  }

  push(value) {
    const heap = this.heap;
    heap.push(value);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.compare(heap[i], heap[parent]) >= 0) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
    return heap.length;
  }

  peek() {
    if (!this.heap.length) throw new EmptyQueueError();
    return this.heap[0];
  }

  pop() {
    const heap = this.heap;
    if (!heap.length) throw new EmptyQueueError();
    const top = heap[0];
    const last = heap.pop();
    if (heap.length) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && this.compare(heap[left], heap[smallest]) < 0) smallest = left;
        if (right < heap.length && this.compare(heap[right], heap[smallest]) < 0) smallest = right;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest], heap[i]];
        i = smallest;
      }
    }
    return top;
  }

  static from(values, compare) {
    const queue = new PriorityQueue(compare);
    for (const v of values) queue.push(v);
    return queue;
  }
}

const LEVELS = { critical: 0, high: 1, normal: 2, low: 3 };

/** Order task names by level, then by insertion order. */
export function orderTasks(tasks) {
  let seq = 0;
  const queue = new PriorityQueue((a, b) => a.rank - b.rank || a.seq - b.seq);
  for (const task of tasks) {
    const rank = LEVELS[task.level ?? 'normal'];
    if (rank === undefined) throw new RangeError(`unknown level ${task.level}`);
    queue.push({ name: task.name, rank, seq: seq++ });
  }
  const order = [];
  while (queue.size) order.push(queue.pop().name);
  return order;
}

export function kSmallest(values, k) {
  if (k < 0) throw new RangeError('k must not be negative');
  const queue = PriorityQueue.from(values);
  const out = [];
  while (out.length < k && queue.size) out.push(queue.pop());
  return out;
}
