// grant_holder.js: the other process of coordination.test.js (child_process.fork).
//   argv: STORE hold          claims job:1, locks L, takes S's one permit (hour-long leases),
//                             reports, then waits to be killed
//   argv: STORE unlock-soon   locks L, reports, unlocks it 100 ms later and exits
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
