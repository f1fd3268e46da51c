/* tour.c: the C column of the operation table (docs/bindings.md "Every operation, every
 * surface"): calls every function of the C API once, checks its result, and prints
 * "called NAME" after each check passed (tests/surfaces/check_table.py compares the names with
 * the table). Exits 1 at the first result that is not what the function promises.
 *
 *   surface_tour_c STORE_NAME SCRATCH_DIR
 */
#include <shmkv/shmkv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void expect(int ok, const char* what, int line) {
  if (ok) return;
  fprintf(stderr, "tour.c:%d: %s (last error: %s)\n", line, what, shmkv_last_error());
  exit(1);
}
#define EXPECT(cond) expect((cond), #cond, __LINE__)
#define S(text) text, strlen(text)

static void called(const char* name) {
  printf("called %s\n", name);
  fflush(stdout);
}

static int count_entry(void* ctx, const void* key, size_t key_len, const void* value,
                       size_t value_len) {
  (void)key, (void)key_len, (void)value, (void)value_len;
  ++*(size_t*)ctx;
  return 0;
}
static int count_key(void* ctx, const void* key, size_t key_len) {
  (void)key, (void)key_len;
  ++*(size_t*)ctx;
  return 0;
}

int main(int argc, char** argv) {
  shmkv_options o;
  shmkv_store* s = NULL;
  char buf[256], path[4096];
  size_t len = 0, n = 0;
  int64_t i64 = 0;
  uint64_t u64 = 0, u64b = 0;
  int done = 0;
  void* p = NULL;
  void* q = NULL;
  size_t plen = 0, qlen = 0;
  shmkv_range range;
  shmkv_info info;
  shmkv_stats stats;
  if (argc != 3) {
    fprintf(stderr, "usage: surface_tour_c STORE_NAME SCRATCH_DIR\n");
    return 2;
  }
  if (shmkv_segment_exists(argv[1]) == 1) shmkv_destroy(argv[1]);
  shmkv_options_init(&o);
  called("shmkv_options_init");
  o.size_bytes = 16u << 20;
  EXPECT(shmkv_open(argv[1], &o, sizeof o, &s) == 0);
  called("shmkv_open");
  EXPECT(shmkv_segment_exists(argv[1]) == 1);
  called("shmkv_segment_exists");

  EXPECT(shmkv_set(s, S("k"), S("v"), 3600000) == 0);
  called("shmkv_set");
  EXPECT(shmkv_get(s, S("k"), buf, sizeof buf, &len) == 1 && len == 1 && buf[0] == 'v');
  called("shmkv_get");
  EXPECT(shmkv_get_alloc(s, S("k"), &p, &plen) == 1 && plen == 1);
  shmkv_free(p);
  called("shmkv_get_alloc");
  called("shmkv_free");
  EXPECT(shmkv_exists(s, S("k")) == 1 && shmkv_exists(s, S("nope")) == 0);
  called("shmkv_exists");
  EXPECT(shmkv_ttl(s, S("k"), &i64) == 1 && i64 > 3500000);
  called("shmkv_ttl");
  EXPECT(shmkv_expire(s, S("k"), 0) == 1 && shmkv_ttl(s, S("k"), &i64) == 1 && i64 == 0);
  called("shmkv_expire");
  EXPECT(shmkv_delete(s, S("k")) == 1 && shmkv_delete(s, S("k")) == 0);
  called("shmkv_delete");
  EXPECT(shmkv_incr(s, S("n"), 5, &i64) == 0 && i64 == 5);
  called("shmkv_incr");
  EXPECT(shmkv_get_or_set(s, S("g"), S("first"), buf, sizeof buf, &len) == 0);
  EXPECT(shmkv_get_or_set(s, S("g"), S("second"), buf, sizeof buf, &len) == 1 && len == 5);
  called("shmkv_get_or_set");
  EXPECT(shmkv_swap(s, S("g"), S("third"), &p, &plen) == 1 && plen == 5);
  shmkv_free(p);
  called("shmkv_swap");
  EXPECT(shmkv_cas(s, S("g"), S("third"), S("fourth")) == 1);
  EXPECT(shmkv_cas(s, S("g"), S("third"), S("x")) == 0);
  called("shmkv_cas");
  EXPECT(shmkv_cad(s, S("g"), S("third")) == 0 && shmkv_cad(s, S("g"), S("fourth")) == 1);
  called("shmkv_cad");
  EXPECT(shmkv_get_or_set_ttl(s, S("h"), S("first"), 60000, buf, sizeof buf, &len) == 0);
  EXPECT(shmkv_ttl(s, S("h"), &i64) == 1 && i64 > 50000);
  called("shmkv_get_or_set_ttl");
  EXPECT(shmkv_swap_ttl(s, S("h"), S("second"), 0, &p, &plen) == 1 && plen == 5);
  shmkv_free(p);
  EXPECT(shmkv_ttl(s, S("h"), &i64) == 1 && i64 == 0);
  called("shmkv_swap_ttl");
  EXPECT(shmkv_cas_ttl(s, S("h"), S("second"), S("third"), 60000) == 1);
  EXPECT(shmkv_ttl(s, S("h"), &i64) == 1 && i64 > 50000);
  called("shmkv_cas_ttl");
  EXPECT(shmkv_cas_detailed(s, S("h"), S("second"), S("x"), 0, buf, sizeof buf, &len, &done) == 0 &&
         done == 1 && len == 5 && memcmp(buf, "third", 5) == 0);
  called("shmkv_cas_detailed");
  EXPECT(shmkv_delete(s, S("h")) == 1);
  EXPECT(shmkv_set_if_absent(s, S("a"), S("1"), 0) == 1);
  EXPECT(shmkv_set_if_absent(s, S("a"), S("2"), 0) == 0);
  called("shmkv_set_if_absent");

  EXPECT(shmkv_set(s, S("job:1"), S("a"), 0) == 0 && shmkv_set(s, S("job:2"), S("b"), 0) == 0);
  EXPECT(shmkv_set(s, S("job:3"), S("c"), 0) == 0 && shmkv_set(s, S("user:1"), S("u"), 0) == 0);
  EXPECT(shmkv_count(s, S("job:"), &u64) == 0 && u64 == 3);
  called("shmkv_count");
  memset(&range, 0, sizeof range);
  range.from = "job:2", range.from_len = 5, range.to = "job:3", range.to_len = 5;
  EXPECT(shmkv_count_range(s, &range, &u64) == 0 && u64 == 1);
  called("shmkv_count_range");
  n = 0;
  EXPECT(shmkv_list(s, S("job:"), 2, count_entry, &n, &len) == 0 && n == 2);
  called("shmkv_list");
  n = 0;
  EXPECT(shmkv_list_range(s, &range, 0, count_entry, &n, &len) == 0 && n == 1);
  called("shmkv_list_range");
  memset(&range, 0, sizeof range);
  range.prefix = "job:", range.prefix_len = 4;
  n = 0;
  EXPECT(shmkv_list_keys(s, &range, 0, count_key, &n, &len) == 0 && n == 3);
  called("shmkv_list_keys");
  n = 0;
  EXPECT(shmkv_scan(s, S("job:"), "", 0, 2, count_entry, &n, buf, sizeof buf, &len, &done) == 0);
  EXPECT(n == 2 && len == 5 && memcmp(buf, "job:2", 5) == 0 && !done);
  called("shmkv_scan");
  n = 0;
  EXPECT(shmkv_scan_range(s, &range, "job:2", 5, 2, count_entry, &n, buf, sizeof buf, &len,
                          &done) == 0 &&
         n == 1 && done);
  called("shmkv_scan_range");
  n = 0;
  EXPECT(shmkv_scan_keys(s, &range, "", 0, 0, count_key, &n, buf, sizeof buf, &len, &done) == 0 &&
         n == 3 && done);
  called("shmkv_scan_keys");
  EXPECT(shmkv_scan_buf(s, S("job:"), "", 0, 0, buf, sizeof buf, &plen, &n, &done) == 0 && n == 3 &&
         plen == 3 * (8 + 5 + 1));
  called("shmkv_scan_buf");
  EXPECT(shmkv_scan_buf_range(s, &range, "", 0, 1, buf, sizeof buf, &plen, &n, &done) == 0 &&
         n == 1 && !done);
  called("shmkv_scan_buf_range");
  EXPECT(shmkv_scan_keys_buf(s, &range, "", 0, 0, buf, sizeof buf, &plen, &n, &done) == 0 &&
         n == 3 && plen == 3 * (4 + 5));
  called("shmkv_scan_keys_buf");
  EXPECT(shmkv_random_key(s, S("user:"), buf, sizeof buf, &len) == 1 && len == 6);
  called("shmkv_random_key");
  EXPECT(shmkv_pop_random(s, S("user:"), &p, &plen, &q, &qlen) == 1 && plen == 6 && qlen == 1);
  shmkv_free(p);
  shmkv_free(q);
  called("shmkv_pop_random");
  EXPECT(shmkv_pop_random_many(s, S("job:"), 2, &p, &plen) == 2);
  shmkv_free(p);
  EXPECT(shmkv_count(s, S("job:"), &u64) == 0 && u64 == 1);
  called("shmkv_pop_random_many");
  { /* Coordination (issue 16): one process takes and gives back each kind of grant. */
    uint64_t token = 0, other = 0;
    uint32_t index = 9;
    EXPECT(shmkv_set(s, S("c:1"), S("one"), 0) == 0 && shmkv_set(s, S("c:2"), S("two"), 0) == 0);
    EXPECT(shmkv_claim(s, S("c:1"), 60000, &q, &qlen, &token) == 1 && qlen == 3 && token > 0);
    shmkv_free(q);
    called("shmkv_claim");
    {
      shmkv_grant_info grant;
      size_t grants = 0;
      EXPECT(shmkv_info_grants(s, &grant, 1, &grants) == 0 && grants == 1 &&
             strcmp(grant.kind, "claim") == 0 && grant.holder_alive == 1);
      called("shmkv_info_grants");
    }
    EXPECT(shmkv_renew(s, S("c:1"), token, 60000) == 1);
    called("shmkv_renew");
    EXPECT(shmkv_release(s, S("c:1"), token) == 1 && shmkv_release(s, S("c:1"), token) == 0);
    called("shmkv_release");
    EXPECT(shmkv_claim_random(s, S("c:"), 60000, &p, &plen, NULL, NULL, &token) == 1 && plen == 3);
    called("shmkv_claim_random");
    EXPECT(shmkv_complete(s, p, plen, token) == 1 && shmkv_exists(s, p, plen) == 0);
    shmkv_free(p);
    called("shmkv_complete");
    EXPECT(shmkv_lock(s, S("leader"), 60000, 0, &token) == 1 &&
           shmkv_lock(s, S("leader"), 60000, 0, &other) == 0 && other == 0);
    called("shmkv_lock");
    EXPECT(shmkv_unlock(s, S("leader"), token) == 1);
    called("shmkv_unlock");
    EXPECT(shmkv_acquire(s, S("db"), 1, 0, &token) == 1 &&
           shmkv_acquire(s, S("db"), 1, 0, &other) == 0);
    called("shmkv_acquire");
    EXPECT(shmkv_release_permit(s, S("db"), token) == 1);
    called("shmkv_release_permit");
    EXPECT(shmkv_set(s, S("ready"), S("1"), 0) == 0 && shmkv_wait_for(s, S("ready"), 0) == 1 &&
           shmkv_wait_for(s, S("absent"), 1) == 0);
    called("shmkv_wait_for");
    EXPECT(shmkv_set(s, S("q:1"), S("x"), 0) == 0 &&
           shmkv_pop_random_wait(s, S("q:"), 1, &p, &plen, NULL, NULL) == 1 && plen == 3);
    shmkv_free(p);
    called("shmkv_pop_random_wait");
    EXPECT(shmkv_barrier(s, S("start"), 1, 0, &index) == 1 && index == 0);
    called("shmkv_barrier");
    EXPECT(shmkv_delete_prefix(s, S("c:"), 0, NULL, NULL) == 0 && shmkv_delete(s, S("ready")) == 1);
  }
  {
    const void* keys[] = {"m:1", "m:2", "m:3"};
    const size_t key_lens[] = {3, 3, 3};
    const void* values[] = {"one", "two", "six"};
    const size_t value_lens[] = {3, 3, 3};
    EXPECT(shmkv_set_many(s, keys, key_lens, values, value_lens, 3, 0) == 0);
    called("shmkv_set_many");
    EXPECT(shmkv_get_many(s, keys, key_lens, 3, &p, &plen, &n) == 0 && n == 3 &&
           plen == 3 * (8 + 3));
    shmkv_free(p);
    called("shmkv_get_many");
    EXPECT(shmkv_random_keys(s, S("m:"), 5, 1, &p, &plen) == 3 && plen == 3 * (4 + 3));
    shmkv_free(p);
    called("shmkv_random_keys");
    EXPECT(shmkv_delete_many(s, keys, key_lens, 3, &u64) == 0 && u64 == 3);
    called("shmkv_delete_many");
  }
  EXPECT(shmkv_set(s, S("t:1"), S("x"), 0) == 0 && shmkv_set(s, S("u:1"), S("z"), 0) == 0);
  memset(&range, 0, sizeof range);
  range.prefix = "t:", range.prefix_len = 2;
  EXPECT(shmkv_delete_range(s, &range, 0, &u64, &done) == 0 && u64 == 1 && done);
  called("shmkv_delete_range");
  EXPECT(shmkv_delete_prefix(s, S("u:"), 0, &u64, &done) == 0 && u64 == 1 && done);
  called("shmkv_delete_prefix");
  EXPECT(shmkv_size(s, &u64) == 0 && u64 == 3);
  called("shmkv_size");
  EXPECT(shmkv_info_get(s, &info, sizeof info) == 0 && strcmp(info.name, argv[1]) == 0);
  called("shmkv_info_get");
  {
    shmkv_shard_info shards[256];
    shmkv_process_info processes[64];
    EXPECT(shmkv_info_shards(s, shards, 256, &n) == 0 && n == info.shards);
    called("shmkv_info_shards");
    EXPECT(shmkv_info_processes(s, processes, 64, &n) == 0 && n >= 1);
    called("shmkv_info_processes");
  }
  EXPECT(shmkv_stats_get(s, &stats, sizeof stats) == 0 && stats.sets > 0);
  called("shmkv_stats_get");

  EXPECT(shmkv_check_invariants(s, &p, &plen) == 0);
  called("shmkv_check_invariants");
  snprintf(path, sizeof path, "%s/tour.jsonl", argv[2]);
  EXPECT(shmkv_export_jsonl(s, path, &u64, &u64b) == 0 && u64 == 3);
  called("shmkv_export_jsonl");
  EXPECT(shmkv_import_jsonl(s, path, 0, 0, &u64, &u64b, NULL) == 0 && u64 == 3);
  called("shmkv_import_jsonl");
  snprintf(path, sizeof path, "%s/tour.backup", argv[2]);
  EXPECT(shmkv_backup(s, path, &u64, &u64b) == 0 && u64 == 3);
  called("shmkv_backup");
  EXPECT(shmkv_clear(s) == 0 && shmkv_size(s, &u64) == 0 && u64 == 0);
  called("shmkv_clear");
  EXPECT(shmkv_restore(s, path, 0, 0, &u64, &u64b) == 0 && u64 == 3);
  called("shmkv_restore");
  EXPECT(shmkv_get(s, S("nope"), buf, sizeof buf, &len) == 0);
  EXPECT(shmkv_set(s, "", 0, S("v"), 0) == SHMKV_EINVALID_ARGUMENT);
  EXPECT(shmkv_last_error_code() == SHMKV_EINVALID_ARGUMENT && strlen(shmkv_last_error()) > 0);
  called("shmkv_last_error");
  called("shmkv_last_error_code");
  EXPECT(strcmp(shmkv_errname(SHMKV_EINVALID_ARGUMENT), "invalid_argument") == 0);
  called("shmkv_errname");
  EXPECT(strlen(shmkv_strerror(SHMKV_EINVALID_ARGUMENT)) > 0);
  called("shmkv_strerror");
  EXPECT(strlen(shmkv_version()) > 0);
  called("shmkv_version");
  shmkv_close(s);
  called("shmkv_close");
  EXPECT(shmkv_destroy(argv[1]) == 0 && shmkv_segment_exists(argv[1]) == 0);
  called("shmkv_destroy");

  /* By url: NULL or "" is this host's shared memory (c_api_test opens a Redis server's url). */
  EXPECT(shmkv_open_url("", argv[1], &o, sizeof o, &s) == 0);
  called("shmkv_open_url");
  EXPECT(shmkv_info_get(s, &info, sizeof info) == 0 && strcmp(info.engine, "shm") == 0);
  shmkv_close(s);
  EXPECT(shmkv_segment_exists_url(NULL, argv[1]) == 1);
  called("shmkv_segment_exists_url");
  EXPECT(shmkv_destroy_url("", argv[1]) == 0 && shmkv_segment_exists_url("", argv[1]) == 0);
  called("shmkv_destroy_url");

  /* A persistent store: sync, snapshot, and the recovery that rebuilds it. */
  snprintf(path, sizeof path, "%s/persist", argv[2]);
  o.persistence_directory = path;
  EXPECT(shmkv_open(argv[1], &o, sizeof o, &s) == 0);
  EXPECT(shmkv_set(s, S("durable"), S("yes"), 0) == 0);
  EXPECT(shmkv_sync(s) == 0);
  called("shmkv_sync");
  EXPECT(shmkv_snapshot(s, &u64, &u64b) == 0 && u64 == 1);
  called("shmkv_snapshot");
  shmkv_close(s);
  EXPECT(shmkv_destroy(argv[1]) == 0);
  EXPECT(shmkv_open(argv[1], &o, sizeof o, &s) == 0);
  {
    shmkv_recovery_report report;
    EXPECT(shmkv_recovery_report_get(s, &report, sizeof report, NULL, NULL) >= 0 &&
           report.performed == 1 && report.snapshot_entries == 1);
    called("shmkv_recovery_report_get");
  }
  EXPECT(shmkv_get(s, S("durable"), buf, sizeof buf, &len) == 1 && len == 3);
  shmkv_close(s);
  EXPECT(shmkv_destroy(argv[1]) == 0);
  return 0;
}
