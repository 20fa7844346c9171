#!/usr/bin/env node
// The installed entry point: runs the compiled CLI (built by `npm ci` through the `prepare` script).
import { main } from '../dist/main.js';

// A command that returns a code is finished: exit at once, so no handle left open (a Redis
// client, a timer) can keep the process alive. `start` returns nothing while it serves; a start
// that fails exits 1 the same way.
main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number') process.exit(code);
  },
  (err) => {
    process.stderr.write(`ropc-gateway: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
