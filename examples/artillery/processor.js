// processor.js: the Artillery processor (config.processor in scenario.yml) through which every
// Artillery worker, in every `artillery run` process, shares state with the others via shmkv.
// Artillery loads it once per worker thread, so each thread opens its own handle.
//
//   takeAccount   pops a test account (popRandom("account:")): no two virtual users, in any
//                 worker of any process, get the same one. It records the use with
//                 getOrSet("used:<account>", me), which would report a second use, and sets
//                 {{ path }} to /account/<id>, or to /plain once the pool is empty.
//   electLeader   the first call in each worker runs for leader once (setIfAbsent("leader", me));
//                 the winner's virtual user requests /leader/<me>, exactly once in the whole test.
//   countRequest, countResponse (beforeRequest / afterResponse hooks): shared counters of
//                 requests sent and responses received, and of responses that were not 200.
//
// Environment: SHMKV_EXAMPLE_STORE (the store, which must exist: run_example.py creates and
// seeds it), SHMKV_NODE_PACKAGE (the binding's directory; default: require("shmkv")).
"use strict";

const { threadId } = require("node:worker_threads");
const shmkv = require(process.env.SHMKV_NODE_PACKAGE || "shmkv");

const me = `${process.pid}/${threadId}`;
let kv = null;  // opened by the first call: the processor is also loaded where no VU runs
let ranForLeader = false;

function store() {
  if (kv === null) kv = shmkv.openKv({ name: process.env.SHMKV_EXAMPLE_STORE, openMode: "attach_only" });
  return kv;
}

function takeAccount(context, events, done) {
  const account = store().popRandom({ prefix: "account:" });
  if (account) {
    if (kv.getOrSet(`used:${account.key}`, me).loaded) kv.incrementBy("accounts:reused", 1);
    context.vars.path = `/account/${account.key.slice("account:".length)}`;
  } else {
    context.vars.path = "/plain";
  }
  return done();
}

function electLeader(context, events, done) {
  context.vars.leader = false;
  if (!ranForLeader) {
    ranForLeader = true;
    context.vars.leader = store().setIfAbsent("leader", me);
    context.vars.me = me.replace("/", "-");
  }
  return done();
}

function countRequest(requestParams, context, events, done) {
  store().incrementBy("requests", 1);
  kv.incrementBy(`requests:${me}`, 1);
  return done();
}

function countResponse(requestParams, response, context, events, done) {
  store().incrementBy("responses", 1);
  if (response.statusCode !== 200) kv.incrementBy("bad_status", 1);
  return done();
}

module.exports = { takeAccount, electLeader, countRequest, countResponse };
