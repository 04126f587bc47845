/**
 * Which server sessions the extension keeps open.
 *
 * The server caps the sessions one connection may hold (64 by default) and keeps each one's
 * history, so the extension remembers the chats it used most recently and resets the oldest
 * session when a new chat would go over its own, smaller cap.
 */
export class SessionTracker {
  private readonly order = new Map<string, true>();

  constructor(readonly capacity = 32) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError("SessionTracker capacity must be a positive integer.");
    }
  }

  /** Mark `sessionId` as just used; returns the sessions to reset (least recently used first). */
  touch(sessionId: string): string[] {
    this.order.delete(sessionId);
    this.order.set(sessionId, true);
    const evicted: string[] = [];
    for (const oldest of this.order.keys()) {
      if (this.order.size - evicted.length <= this.capacity) {
        break;
      }
      evicted.push(oldest);
    }
    for (const id of evicted) {
      this.order.delete(id);
    }
    return evicted;
  }

  /** Forget everything (the server behind a new connection starts with no sessions). */
  clear(): void {
    this.order.clear();
  }

  get size(): number {
    return this.order.size;
  }
}
