'use strict';
// Preloaded into `artillery run` by test/artillery-export.test.ts. With ARTILLERY_DISABLE_TELEMETRY
// Artillery still sends one anonymous event on exit (lib/telemetry.js) through posthog-node, and on
// a machine that cannot resolve its host the exit waits ~11 s for four failed lookups. The tests
// have no network to send it over: requiring posthog-node here gives a client that sends nothing.
const Module = require('node:module');
const load = Module._load;
class PostHog {
  capture() {}
  async shutdownAsync() {}
}
Module._load = function (request, ...rest) {
  if (request === 'posthog-node') return { PostHog };
  return load.call(this, request, ...rest);
};
