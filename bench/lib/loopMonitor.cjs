// Preloaded (`node --require`) into every server the comparison bench starts, so each target is
// observed the same way without code of its own: every 250 ms it appends one JSON line with the
// longest event-loop block seen in that window and the process's RSS.
//
// Only the main thread is observed: `--require` preloads this into every worker thread too, and a
// thread's own loop (the embedded database's, which runs PostgreSQL synchronously by design) is
// not the loop that answers HTTP. Its work shows in the latencies instead.
'use strict';
const fs = require('node:fs');
const { isMainThread } = require('node:worker_threads');
const file = process.env.BENCH_PROBE_FILE;
if (file && isMainThread) {
  const TICK_MS = 10;
  let last = performance.now();
  let worst = 0;
  setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - TICK_MS);
    last = now;
  }, TICK_MS).unref();
  setInterval(() => {
    fs.appendFileSync(file, `${JSON.stringify({ t: Date.now(), block: Math.round(worst), rss: process.memoryUsage.rss() })}\n`);
    worst = 0;
  }, 250).unref();
}
