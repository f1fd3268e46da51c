// fuzz_api_child.hpp: every public Store operation against a corrupted segment, checked
// against the clean content.
//
// Contract:
// - RunApiChild runs in a forked child (never in the campaign process: a corrupted segment may
//   crash it) and writes what it saw into an ApiReport that lives in a MAP_SHARED page, so the
//   parent can read it even after the child died: the operation in progress (`op`, written
//   before each call), answers that differ from the clean content, shmkv::Error codes, foreign
//   exceptions and the verdict of check_invariants().
// - It first reads (get, get_many, exists, ttl, list, scan, count, size, random_key(s), info,
//   check_invariants, backup), then mutates (set, set_many, del, increment_by, compare_and_swap,
//   compare_and_delete, get_or_set, swap, set_if_absent, expire, delete_many, pop_random,
//   delete_prefix), checks again, restores the backup it took and ends with clear(). Mutations are
//   checked against a model that follows them; a key a failed mutation touched is no longer
//   compared.
// - It stops at the first errc::busy (a garbage lock makes every locker wait for the 30 s
//   watchdog; one wait is enough to show it).
// - If attaching fails, it tries OpenMode::create_or_attach: replacing a segment that holds
//   data with an empty one is reported (`replaced`).
#pragma once

#include <set>
#include <string>

#include "fuzz_image.hpp"

namespace fuzz {

enum CheckState : int {
  kCheckNotRun = 0,
  kCheckOk = 1,
  kCheckViolations = 2,
  kCheckThrewCorrupted = 3,
  kCheckThrewOther = 4,
};

struct ApiReport {
  char op[64];            // operation in progress (or last one run)
  int attached;           // 1 once attach_only succeeded
  int attach_errc;        // errc of a failed attach
  int check_state;        // CheckState (worst of the check_invariants() calls)
  int typed_errors;       // shmkv::Error raised by operations (expected ones not counted)
  int busy;               // stopped at errc::busy
  int excused;            // answers that differed only as an excused (expiry) key may
  int wrong;              // answers that differ from the clean content
  int foreign;            // exceptions that are not shmkv::Error
  int replaced;           // create_or_attach replaced the corrupted segment by an empty store
  int done;               // reached the end
  char first_typed[200];  // "op: errc: message"
  char wrong_op[64];
  char first_wrong[300];
  char foreign_op[64];
  char foreign_what[200];
  char check_line[200];  // first violation or error of check_invariants()
};

// Deliberate failures, so that tests can prove the verdicts have teeth: `crash` raises SIGSEGV
// after attaching, `hang` sleeps for an hour, `wrong` expects another value for key:1.
enum class Sabotage { none, crash, hang, wrong };

// Runs everything on segment `name` (an image of `image.config` with `excused` keys whose
// expiry may have changed); `tmp_dir` receives the backup file. Returns the exit code.
int RunApiChild(const std::string& name, const Image& image, const std::set<std::string>& excused,
                const std::string& tmp_dir, ApiReport* report, Sabotage sabotage = Sabotage::none);

}  // namespace fuzz
