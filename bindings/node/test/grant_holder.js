// grant_holder.js: the other process of coordination.test.js (child_process.fork).
//   argv: STORE hold          claims job:1, locks L, takes S's one permit (hour-long leases),
//                             reports, then waits to be killed
//   argv: STORE unlock-soon   locks L, reports, unlocks it 100 ms later and exits
//   argv: STORE write-soon    reports, then 100 ms later sets "appeared" and "job:late", exits
//   argv: STORE barrier N     arrives at barrier B of N parties, reports its index, exits
"use strict";

const shmkv = require("..");

const [name, mode] = process.argv.slice(2);
const kv = shmkv.openKv({ name, openMode: "attach_only" });
const HOUR = 3600000;
if (mode === "hold") {
  const claim = kv.claimKey("job:1", { ttl: HOUR });
  const locked = kv.lock("L", { ttl: HOUR }) !== null;
  const permit = kv.acquire("S", { permits: 1 }) !== null;
  process.send({ claimed: claim && claim.key, locked, permit });
  setInterval(() => {}, 1000);  // until SIGKILL
} else if (mode === "write-soon") {
  process.send({ ready: true }, () => {
    setTimeout(() => {
      kv.set("appeared", "yes");
      kv.set("job:late", "work");
      kv.close();
      process.disconnect();
    }, 100);
  });
} else if (mode === "barrier") {
  const index = kv.barrier("B", { parties: Number(process.argv[4]), timeout: HOUR });
  kv.close();
  process.send({ index }, () => process.disconnect());
} else {
  const token = kv.lock("L", { ttl: HOUR });
  process.send({ locked: token !== null }, () => {
    setTimeout(() => {
      kv.unlock("L", token);
      kv.close();
      process.disconnect();
    }, 100);
  });
}
