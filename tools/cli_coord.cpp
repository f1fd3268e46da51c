// cli_coord.cpp: `shmkv` commands that take and give back grants: claims, locks, semaphore
// permits, waits and barriers (cli.hpp).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"
#include "cli_hold.hpp"

namespace shmkv_cli {

// Coordination: claims, locks and semaphores (store.hpp). A grant is held by the process that
// took it, this one: with `-- CMD ARGS...` shmkv runs the command while it holds the grant
// (cli_hold.hpp) and gives it back when the command ends. Without a command a claim ends as
// shmkv exits (its holder is gone: the next attempt by anyone takes it).

// --lease, which the commands that take a lock or a claim require.
std::chrono::milliseconds Lease(const Invocation& in) {
  const std::string* lease = in.Opt("lease");
  if (lease == nullptr) throw UsageError("missing --lease DURATION (how long it may be held)");
  return ParseDuration("--lease", *lease);
}

// --wait, or 0 (do not wait).
std::chrono::milliseconds Wait(const Invocation& in) {
  return in.Has("wait") ? ParseDuration("--wait", *in.Opt("wait")) : std::chrono::milliseconds{};
}

// The command after the first positional argument (NAME, KEY or PREFIX); empty when none.
std::vector<std::string> CommandToRun(const Invocation& in, bool required) {
  if (in.pos.empty()) throw UsageError("missing " + std::string(in.cmd->required.front()));
  std::vector<std::string> command(in.pos.begin() + 1, in.pos.end());
  if (required && command.empty()) throw UsageError("missing the command to run (-- CMD ARGS...)");
  return command;
}

// After the command: the grant was gone when shmkv gave it back.
void NoteLostBeforeEnd(const Invocation& in, std::string_view grant) {
  Note(in,
       "WARNING: the " + std::string(grant) +
           " was no longer held when the command ended (its lease ran out, or its token was used "
           "elsewhere): another holder may have had it meanwhile",
       kExitOk);
}

int RunLock(Invocation& in) {
  const std::chrono::milliseconds lease = Lease(in), wait = Wait(in);
  const std::vector<std::string> command = CommandToRun(in, true);
  shmkv::Store& store = in.Open();
  const std::string& name = in.pos[0];
  const std::optional<std::uint64_t> token = store.lock(name, lease, wait);
  if (!token)
    return Note(in, "not obtained: another live holder kept the lock for all of --wait",
                kExitNotGranted);
  const int status = cli_hold::RunCommand(command, {{"SHMKV_LOCK_TOKEN", std::to_string(*token)}});
  if (!store.unlock(name, *token)) NoteLostBeforeEnd(in, "lock");
  return status;
}

int RunAcquire(Invocation& in) {
  const std::string* permits_text = in.Opt("permits");
  if (permits_text == nullptr) throw UsageError("missing --permits N");
  const std::uint32_t permits = ToU32("--permits", ParseCount("--permits", *permits_text));
  const std::chrono::milliseconds wait = Wait(in);
  const std::vector<std::string> command = CommandToRun(in, true);
  shmkv::Store& store = in.Open();
  const std::string& semaphore = in.pos[0];
  const std::optional<std::uint64_t> token = store.acquire(semaphore, permits, wait);
  if (!token)
    return Note(in, "not obtained: every permit stayed held for all of --wait", kExitNotGranted);
  const int status =
      cli_hold::RunCommand(command, {{"SHMKV_PERMIT_TOKEN", std::to_string(*token)}});
  if (!store.release_permit(semaphore, *token)) NoteLostBeforeEnd(in, "permit");
  return status;
}

// claim and claim-random: the claim printed (KEY<TAB>TOKEN<TAB>VALUE, or --json), or, with a
// command, the command run while holding it; then complete (it exited 0: the key is deleted) or
// release (the key returns to the pool).
int HoldClaim(Invocation& in, const std::optional<shmkv::Claim>& claim,
              const std::vector<std::string>& command) {
  if (!claim)
    return Note(in,
                in.cmd->name == "claim" ? "not claimed: the key is absent or another live holder "
                                          "has it"
                                        : "not claimed: no unclaimed key has this prefix",
                kExitNotGranted);
  if (command.empty()) {
    if (in.Has("json")) {
      OutLine("{" + BytesField("key", claim->key) + "," + BytesField("value", claim->value) +
              ",\"token\":" + std::to_string(claim->token) + "}");
    } else {
      OutLine(claim->key + '\t' + std::to_string(claim->token) + '\t' + claim->value);
    }
    return kExitOk;
  }
  const int status =
      cli_hold::RunCommand(command, {{"SHMKV_CLAIM_KEY", claim->key},
                                     {"SHMKV_CLAIM_TOKEN", std::to_string(claim->token)},
                                     {"SHMKV_CLAIM_VALUE", claim->value}});
  shmkv::Store& store = *in.store;
  const bool ended = status == 0 ? store.complete(claim->key, claim->token)
                                 : store.release(claim->key, claim->token);
  if (!ended) NoteLostBeforeEnd(in, "claim");
  return status;
}

// The claim's checks before the store is opened: --lease, and the command (or --json) after.
std::vector<std::string> ClaimCommand(const Invocation& in) {
  std::vector<std::string> command = CommandToRun(in, false);
  if (!command.empty() && in.Has("json"))
    throw UsageError("--json prints the claim; with a command to run there is nothing to print");
  return command;
}

int RunClaim(Invocation& in) {
  const std::chrono::milliseconds lease = Lease(in);
  const std::vector<std::string> command = ClaimCommand(in);
  return HoldClaim(in, in.Open().claim(in.pos[0], lease), command);
}

int RunClaimRandom(Invocation& in) {
  const std::chrono::milliseconds lease = Lease(in);
  const std::vector<std::string> command = ClaimCommand(in);
  return HoldClaim(in, in.Open().claim_random(in.pos[0], lease), command);
}

// release, complete, unlock, release-permit NAME TOKEN: exit 0 if the token held the grant (now
// ended), 1 if not (nothing changed).
int EndGrant(Invocation& in, bool (shmkv::Store::*end)(std::string_view, std::uint64_t)) {
  const std::uint64_t token = ParseCount("TOKEN", in.pos[1]);
  if ((in.Open().*end)(in.pos[0], token)) return kExitOk;
  return Note(in, "lost: the token no longer holds it", kExitFalse);
}

int RunRelease(Invocation& in) {
  return EndGrant(in, &shmkv::Store::release);
}
int RunComplete(Invocation& in) {
  return EndGrant(in, &shmkv::Store::complete);
}
int RunUnlock(Invocation& in) {
  return EndGrant(in, &shmkv::Store::unlock);
}
int RunReleasePermit(Invocation& in) {
  return EndGrant(in, &shmkv::Store::release_permit);
}

int RunRenew(Invocation& in) {
  const std::chrono::milliseconds lease = Lease(in);
  const std::uint64_t token = ParseCount("TOKEN", in.pos[1]);
  if (in.Open().renew(in.pos[0], token, lease)) return kExitOk;
  return Note(in, "lost: the token no longer holds the claim", kExitFalse);
}

// --timeout, which wait and barrier require.
std::chrono::milliseconds Timeout(const Invocation& in) {
  const std::string* timeout = in.Opt("timeout");
  if (timeout == nullptr) throw UsageError("missing --timeout DURATION (how long to wait)");
  return ParseDuration("--timeout", *timeout);
}

int RunWait(Invocation& in) {
  const std::chrono::milliseconds timeout = Timeout(in);
  if (in.Open().wait_for(in.pos[0], timeout)) return kExitOk;
  return Note(in, "timed out: no such key yet: " + in.pos[0], kExitFalse);
}

int RunBarrier(Invocation& in) {
  const std::string* parties_text = in.Opt("parties");
  if (parties_text == nullptr) throw UsageError("missing --parties N");
  const std::uint32_t parties = ToU32("--parties", ParseCount("--parties", *parties_text));
  const std::chrono::milliseconds timeout = Timeout(in);
  const std::optional<std::size_t> index = in.Open().barrier(in.pos[0], parties, timeout);
  if (!index) return Note(in, "timed out: not every party arrived", kExitFalse);
  OutLine(std::to_string(*index));
  return kExitOk;
}

}  // namespace shmkv_cli
