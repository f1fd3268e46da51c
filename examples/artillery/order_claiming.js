// order_claiming.js: the processor of order-claiming.yml, xk6-kv's e2e/order-claiming.js scenario
// ported to Artillery + shmkv (docs/migrating-from-xk6-kv.md). Every virtual user, in any worker
// thread of any `artillery run` process on the host, claims the first free order of a pool of
// ORDER_POOL_SIZE with getOrSet("order-<id>", me), requests /order/<id>, then releases it with
// compareAndDelete("order-<id>", me): that fails only if another user had claimed the same order
// meanwhile, which the counter orders.double_claimed (always emitted, 0 or 1) reports to
// Artillery's ensure check. SHMKV_EXAMPLE_STORE names the store (default "order-claiming").
"use strict";

const { randomUUID } = require("node:crypto");
const { openKv } = require(process.env.SHMKV_NODE_PACKAGE || "shmkv");

const POOL = Number(process.env.ORDER_POOL_SIZE || 1000);
let kv = null;

function store() {
  if (kv === null) kv = openKv({ name: process.env.SHMKV_EXAMPLE_STORE || "order-claiming" });
  return kv;
}

function claimOrder(context, events, done) {
  const me = randomUUID();
  for (let id = 1; id <= POOL; id++) {
    if (!store().getOrSet(`order-${id}`, me).loaded) {
      context.vars.orderId = id;
      context.vars.me = me;
      events.emit("counter", "orders.claimed", 1);
      return done();
    }
  }
  return done(new Error(`no unclaimed order among ${POOL}`));
}

function releaseOrder(context, events, done) {
  const released = store().compareAndDelete(`order-${context.vars.orderId}`, context.vars.me);
  events.emit("counter", "orders.double_claimed", released ? 0 : 1);
  return done();
}

module.exports = { claimOrder, releaseOrder };
