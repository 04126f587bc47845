import assert from "node:assert/strict";
import { test } from "node:test";
import { SessionTracker } from "../src/sessions";

test("the least recently used session is evicted past the cap", () => {
  const tracker = new SessionTracker(2);
  assert.deepEqual(tracker.touch("a"), []);
  assert.deepEqual(tracker.touch("b"), []);
  assert.deepEqual(tracker.touch("a"), []); // a is now the most recent
  assert.deepEqual(tracker.touch("c"), ["b"]);
  assert.deepEqual(tracker.touch("d"), ["a"]);
  assert.equal(tracker.size, 2);
});

test("clear forgets every session", () => {
  const tracker = new SessionTracker(1);
  tracker.touch("a");
  tracker.clear();
  assert.equal(tracker.size, 0);
  assert.deepEqual(tracker.touch("b"), []);
});

test("a capacity below one is refused", () => {
  assert.throws(() => new SessionTracker(0), RangeError);
});
