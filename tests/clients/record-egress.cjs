// Preloaded into an IDE client under test (`node --require record-egress.cjs ...`): records every
// outbound connection and HTTP request to $EGRESS_LOG (JSON lines) and refuses any that is not to a
// loopback address, so a test can assert "no request left the machine" and no test ever sends a
// client's telemetry to its vendor. fetch (undici) and http/https/net/tls are all wrapped: tabby-agent
// sends its anonymous usage data with fetch, other clients may use http.request.
"use strict";
const fs = require("fs");
const net = require("net");
const tls = require("tls");
const http = require("http");
const https = require("https");

const log = process.env.EGRESS_LOG;
const isLoopback = (host) =>
  host === "localhost" || host === "::1" || host === "[::1]" || /^127\./.test(host || "");

function record(kind, host, detail) {
  const loopback = isLoopback(host);
  if (log) fs.appendFileSync(log, JSON.stringify({ kind, host, detail, loopback }) + "\n");
  return loopback;
}

function blocked(host) {
  const err = new Error(`egress to ${host} refused by the test harness`);
  err.code = "ECONNREFUSED";
  return err;
}

const realFetch = globalThis.fetch;
globalThis.fetch = async function (input, init) {
  const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
  const method = (init && init.method) || (input && input.method) || "GET";
  let event = "";
  try {
    event = JSON.parse(init && init.body).event || "";  // the name of a usage event, never its data
  } catch (_) {}
  if (!record("fetch", url.hostname, `${method} ${url.pathname}${event ? " " + event : ""}`)) {
    throw blocked(url.hostname);
  }
  return realFetch(input, init);
};

for (const [mod, name] of [[net, "connect"], [net, "createConnection"], [tls, "connect"]]) {
  const real = mod[name];
  mod[name] = function (...args) {
    const opts = typeof args[0] === "object" ? args[0] : { port: args[0], host: args[1] };
    const host = opts.host || opts.hostname || "localhost";
    if (opts.path === undefined && !record(`${name}`, host, String(opts.port))) throw blocked(host);
    return real.apply(this, args);
  };
}

for (const mod of [http, https]) {
  for (const name of ["request", "get"]) {
    const real = mod[name];
    mod[name] = function (...args) {
      const first = args[0];
      const url = typeof first === "string" || first instanceof URL ? new URL(first) : null;
      const host = url ? url.hostname : (first && (first.hostname || first.host)) || "localhost";
      if (!record(`http.${name}`, host, url ? url.pathname : first && first.path)) throw blocked(host);
      return real.apply(this, args);
    };
  }
}
