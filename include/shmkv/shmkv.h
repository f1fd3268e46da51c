/* shmkv/shmkv.h: the C API of shmkv (a stable C ABI over shmkv::Store).
 *
 * Plain C (C99 and later, and C++): an opaque handle, fixed-width integers, (pointer, length)
 * byte strings. Keys and values are arbitrary bytes; a NULL pointer is allowed only with a zero
 * length. Names of segments are NUL-terminated C strings.
 *
 * Results. Every function that can fail returns an int: 0 or a positive count/boolean on
 * success, a negative SHMKV_E* code on failure. On failure the calling thread's last-error
 * message (shmkv_last_error()) names the offending value, e.g. "key is 300 bytes;
 * max_key_bytes is 255"; it is left unchanged by successful calls. No C++ exception ever leaves
 * a function of this header. Booleans are returned as 1 (yes) / 0 (no).
 *
 * Values returned into caller buffers (the "needed size" protocol). Functions taking
 * (void* buf, size_t cap, size_t* len):
 *   - buf == NULL (cap must be 0): nothing is copied, *len receives the size;
 *   - the result fits in cap bytes: it is copied, *len receives its size;
 *   - it does not fit: SHMKV_ETOOSMALL is returned, *len receives the size needed, buf is
 *     untouched and the call had no effect. Nothing is ever truncated.
 * A buffer of the store's max_key_bytes (keys) or max_value_bytes (values), see shmkv_info(),
 * never gets SHMKV_ETOOSMALL. Values can change between two calls: retry with the new size.
 * Operations that remove what they return (shmkv_swap, shmkv_pop_random, shmkv_pop_random_many)
 * cannot be retried, so they return malloc'ed copies instead, which the caller releases with
 * shmkv_free().
 *
 * Threads and processes. A handle may be used by several threads of the process that opened it.
 * It must not be used across fork(): in the child every call on an inherited handle fails with
 * SHMKV_ECLOSED (open a new handle there), and shmkv_close() on it only releases the handle's
 * memory, leaving the parent's registration alone.
 *
 * Lists of byte strings go in as two arrays of n elements (pointers and lengths: keys[i] has
 * key_lens[i] bytes) and come out as one malloc'ed block of records (free it with shmkv_free):
 *   entries  uint32_t key_len, uint32_t value_len, key, value   (shmkv_pop_random_many)
 *   keys     uint32_t key_len, key                              (shmkv_random_keys)
 *   values   uint32_t found (1/0), uint32_t value_len, value    (shmkv_get_many)
 * (native byte order, unaligned; the same layout as shmkv_scan_buf's records). Lists of messages
 * (shmkv_check_invariants, shmkv_recovery_report_get) come out as one malloc'ed block of
 * NUL-terminated strings, one after the other.
 */
#ifndef SHMKV_SHMKV_H
#define SHMKV_SHMKV_H

#include <stddef.h>
#include <stdint.h>

#include "shmkv/error_codes.h"
#include "shmkv/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every function declared below is exported (see export.h). */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#define SHMKV_C_API_VERSION 1

/* ---------------------------------------------------------------------------------------- */
/* Error codes: 0 is success; SHMKV_E<NAME> == -(int)shmkv::errc::<name>. */

#define SHMKV_OK 0
/* SHMKV_EINVALID_ARGUMENT (-1) ... SHMKV_EBROKEN (-19): one per entry of SHMKV_ERROR_CODES
 * (error_codes.h, which says what each means). */
enum shmkv_error_code {
#define SHMKV_C_ERROR_ENUMERATOR(name, NAME, number, description) SHMKV_E##NAME = -(number),
  SHMKV_ERROR_CODES(SHMKV_C_ERROR_ENUMERATOR)
#undef SHMKV_C_ERROR_ENUMERATOR
};
/* Codes of the C API only (no shmkv::errc counterpart). */
#define SHMKV_ETOOSMALL (-100) /* a caller buffer is too small; *len has the size needed */
#define SHMKV_ENOMEM (-101)    /* memory allocation failed in this process */

/* The code's name as spelled in shmkv::errc ("key_too_long"; "too_small", "no_memory" for the
 * C-only codes; "unknown" otherwise). Static storage. */
const char* shmkv_errname(int code);
/* A one-line English description of the code. Static storage. */
const char* shmkv_strerror(int code);
/* The message of the last failing call made by this thread ("" if none). Valid until the next
 * failing call in this thread. */
const char* shmkv_last_error(void);
/* The code of the last failing call made by this thread (0 if none). */
int shmkv_last_error_code(void);

/* "0.1.0" */
const char* shmkv_version(void);

/* Releases the malloc'ed results of this API (shmkv_get_alloc, shmkv_swap, shmkv_pop_random,
 * the blocks of records and of messages, ...). NULL is ok. */
void shmkv_free(void* p);

/* ---------------------------------------------------------------------------------------- */
/* Opening. */

typedef struct shmkv_store shmkv_store; /* opaque */

#define SHMKV_CREATE_OR_ATTACH 0 /* attach if the segment exists, else create it */
#define SHMKV_CREATE_ONLY 1      /* create; SHMKV_EALREADY_EXISTS if it exists */
#define SHMKV_ATTACH_ONLY 2      /* attach; SHMKV_ENOT_FOUND if it does not exist */
#define SHMKV_READ_ONLY 3        /* attach without write access */

/* Mirrors shmkv::Options (without the name). Sizes take effect only at creation. Fields may be
 * appended in later versions: callers pass sizeof(shmkv_options) to shmkv_open, and fields
 * beyond what a caller passes take their defaults. */
typedef struct shmkv_options {
  int32_t open_mode;         /* SHMKV_CREATE_OR_ATTACH (default) .. SHMKV_READ_ONLY */
  uint32_t shards;           /* power of two; 0 = from the core count (default) */
  uint64_t size_bytes;       /* total segment bytes; default 64 MiB */
  uint32_t max_key_bytes;    /* 1..65535; default 1024 */
  uint32_t max_value_bytes;  /* default 1 MiB, lowered to what fits a smaller store */
  uint64_t max_keys;         /* 0 = size_bytes / 256 (default) */
  uint32_t mode;             /* file mode of a new segment; default 0600 */
  uint32_t home_block_bytes; /* 0 = none (default); see Options::home_block_bytes */
  int64_t trusted_group;     /* gid the store is shared with on purpose, or -1 = none (default);
                                see Options::trusted_group */
  /* Persistence (Options::persistence, shmkv::PersistenceOptions; see persistence.hpp). */
  const char* persistence_directory; /* snapshots and journals; NULL = memory only (default) */
  int32_t fsync_policy;              /* SHMKV_FSYNC_INTERVAL (default), _ALWAYS or _NEVER */
  uint32_t keep_snapshots;           /* snapshots kept; default 2, at least 1 */
  int64_t snapshot_interval_ms;      /* a snapshot every ...; default 30000, > 0 */
  int64_t fsync_interval_ms;         /* period of SHMKV_FSYNC_INTERVAL; default 100, > 0 */
  /* Where the store lives (Options::url). NULL or "" = this host's shared memory (default);
   * else a Redis (>= 7.0) server: "redis://[[user]:password@]host[:port][/db]" or
   * "unix:///path/redis.sock[?db=N]". On a server the fields that concern the segment (shards,
   * size_bytes, max_keys, home_block_bytes, mode, trusted_group, persistence_directory) must
   * stay at their defaults (else SHMKV_EINVALID_ARGUMENT naming the field). */
  const char* url;
  int64_t connect_timeout_ms; /* server only: connecting may take this long; default 2000, > 0 */
  int64_t command_timeout_ms; /* server only: a reply may take this long; default 10000,
                                 0 = no limit */
} shmkv_options;

/* shmkv::FsyncPolicy: when a process makes its journal records durable. */
#define SHMKV_FSYNC_ALWAYS 0   /* before each mutation returns (group commit) */
#define SHMKV_FSYNC_INTERVAL 1 /* every fsync_interval_ms, by a background thread */
#define SHMKV_FSYNC_NEVER 2    /* when the buffer fills and at close; the kernel decides */

/* Fills *options with the defaults above. */
void shmkv_options_init(shmkv_options* options);

/* Opens the store `name` (1-200 of [A-Za-z0-9._-]): the segment /dev/shm/shmkv.<name>, or on
 * the server options->url names, the keys under the hash tag {<name>}. options may be NULL
 * (defaults; options_size is then ignored). On success *out is the handle, on failure NULL.
 * Errors: SHMKV_EINVALID_ARGUMENT, EALREADY_EXISTS, ENOT_FOUND, EINCOMPATIBLE_LAYOUT,
 * EPERMISSION_DENIED, ESTORE_FULL (size too small), EIO_ERROR, ENOMEM; on a server also
 * EUNAVAILABLE (it cannot be reached; the message names its address). */
int shmkv_open(const char* name, const shmkv_options* options, size_t options_size,
               shmkv_store** out);
/* shmkv_open with options->url replaced by url (NULL or "" = shared memory): opens the store
 * `name` on the server url names, e.g. shmkv_open_url("redis://10.0.0.5:6379", "lt", NULL, 0,
 * &s). Every operation of this header then works on it, with the same results and codes. */
int shmkv_open_url(const char* url, const char* name, const shmkv_options* options,
                   size_t options_size, shmkv_store** out);

/* Detaches and frees the handle. NULL is ok. The handle must not be used afterwards. */
void shmkv_close(shmkv_store* store);

/* Removes the named segment (attached processes keep their mapping until they close).
 * Errors: SHMKV_EINVALID_ARGUMENT, ENOT_FOUND, EPERMISSION_DENIED. */
int shmkv_destroy(const char* name);

/* 1 if a segment with this name exists, 0 if not, or SHMKV_EINVALID_ARGUMENT. */
int shmkv_segment_exists(const char* name);

/* shmkv_destroy and shmkv_segment_exists for the store `name` on the server url names (NULL or
 * "" = this host's shared memory, as the two above). Destroying removes every key of the store
 * (handles still open on it see it empty). Errors: those above, and SHMKV_EUNAVAILABLE. */
int shmkv_destroy_url(const char* url, const char* name);
int shmkv_segment_exists_url(const char* url, const char* name);

/* ---------------------------------------------------------------------------------------- */
/* Single keys. ttl_ms: 0 = no expiry, > 0 = expires ttl_ms from now, < 0 = EINVALID_ARGUMENT.
 * Every key may raise SHMKV_EINVALID_ARGUMENT (empty) or SHMKV_EKEY_TOO_LONG; every mutation
 * SHMKV_EREAD_ONLY, SHMKV_EVALUE_TOO_LARGE and SHMKV_ESTORE_FULL (then nothing changed). */

/* 1 and the value (buffer protocol) if present, 0 if absent (*len = 0). */
int shmkv_get(shmkv_store* store, const void* key, size_t key_len, void* buf, size_t cap,
              size_t* len);
/* As shmkv_get, but *value receives a malloc'ed copy (NULL if absent); free it with
 * shmkv_free. The copy has a NUL byte after its *len bytes. */
int shmkv_get_alloc(shmkv_store* store, const void* key, size_t key_len, void** value, size_t* len);
int shmkv_set(shmkv_store* store, const void* key, size_t key_len, const void* value,
              size_t value_len, int64_t ttl_ms);
/* 1 if stored (with ttl_ms), 0 if the key was present (nothing changed, its TTL included). */
int shmkv_set_if_absent(shmkv_store* store, const void* key, size_t key_len, const void* value,
                        size_t value_len, int64_t ttl_ms);
/* 1 / 0 */
int shmkv_exists(shmkv_store* store, const void* key, size_t key_len);
/* 1 if the key existed and was deleted, 0 if absent. */
int shmkv_delete(shmkv_store* store, const void* key, size_t key_len);

/* ---------------------------------------------------------------------------------------- */
/* Counters. Adds delta to the decimal int64 at key (absent = 0); *result (may be NULL)
 * receives the new value. SHMKV_ENOT_A_NUMBER or SHMKV_EOVERFLOW change nothing. */
int shmkv_incr(shmkv_store* store, const void* key, size_t key_len, int64_t delta, int64_t* result);

/* ---------------------------------------------------------------------------------------- */
/* Atomic helpers.
 * TTL rule (Redis's; store.hpp): a call that stores a value gives the key the ttl_ms it is
 * passed (0 = no expiry) and drops the TTL the key had: shmkv_set, shmkv_swap_ttl,
 * shmkv_cas_ttl, and shmkv_get_or_set_ttl / shmkv_set_if_absent when they store. A present key
 * that get_or_set or set_if_absent leaves alone keeps its TTL; shmkv_incr keeps the TTL.
 * shmkv_get_or_set, shmkv_swap and shmkv_cas are the _ttl functions with ttl_ms 0. */

/* If the key is present: returns 1 and its value (buffer protocol; SHMKV_ETOOSMALL changes
 * nothing). Else stores value with ttl_ms and returns 0 (buf untouched, *len = value_len). */
int shmkv_get_or_set_ttl(shmkv_store* store, const void* key, size_t key_len, const void* value,
                         size_t value_len, int64_t ttl_ms, void* buf, size_t cap, size_t* len);
int shmkv_get_or_set(shmkv_store* store, const void* key, size_t key_len, const void* value,
                     size_t value_len, void* buf, size_t cap, size_t* len);
/* Stores value with ttl_ms and returns 1 with the value it replaced in *previous (malloc'ed,
 * free with shmkv_free; pass previous NULL to discard it), or 0 if the key was absent
 * (*previous NULL). */
int shmkv_swap_ttl(shmkv_store* store, const void* key, size_t key_len, const void* value,
                   size_t value_len, int64_t ttl_ms, void** previous, size_t* previous_len);
int shmkv_swap(shmkv_store* store, const void* key, size_t key_len, const void* value,
               size_t value_len, void** previous, size_t* previous_len);
/* Compare-and-swap: stores value with ttl_ms if the key currently holds expected;
 * expected == NULL means "only if absent" (an empty expected value is a non-NULL pointer with
 * length 0). 1 if stored, 0 if the comparison failed (then nothing changed). */
int shmkv_cas_ttl(shmkv_store* store, const void* key, size_t key_len, const void* expected,
                  size_t expected_len, const void* value, size_t value_len, int64_t ttl_ms);
int shmkv_cas(shmkv_store* store, const void* key, size_t key_len, const void* expected,
              size_t expected_len, const void* value, size_t value_len);
/* shmkv_cas_ttl that also says what the key holds (Store::compare_and_swap_detailed): returns 1
 * if stored (buf untouched, *len = value_len, *present = 1). Returns 0 if the comparison failed,
 * with the value that failed it, read under the same lock as the comparison: *present (may be
 * NULL) = 1 and the value by the buffer protocol, or *present = 0 and *len = 0 when the key is
 * absent. SHMKV_ETOOSMALL comes only with a failed comparison (nothing changed): a retry with a
 * larger buffer compares again. */
int shmkv_cas_detailed(shmkv_store* store, const void* key, size_t key_len, const void* expected,
                       size_t expected_len, const void* value, size_t value_len, int64_t ttl_ms,
                       void* buf, size_t cap, size_t* len, int* present);
/* Compare-and-delete: 1 if the key held expected and was deleted, else 0. expected must not be
 * NULL unless expected_len is 0. */
int shmkv_cad(shmkv_store* store, const void* key, size_t key_len, const void* expected,
              size_t expected_len);

/* ---------------------------------------------------------------------------------------- */
/* TTL. */

/* Sets the key's TTL (0 removes it). 1 if set, 0 if the key is absent. */
int shmkv_expire(shmkv_store* store, const void* key, size_t key_len, int64_t ttl_ms);
/* 1 and *ttl_ms = remaining milliseconds (0 = no expiry) if present, 0 if absent. */
int shmkv_ttl(shmkv_store* store, const void* key, size_t key_len, int64_t* ttl_ms);

/* ---------------------------------------------------------------------------------------- */
/* Ordered reads (byte order of keys; each shard's part is atomic, the whole is not a snapshot;
 * cost O(keys in store) per call). */

/* Called once per entry; the pointers are valid only during the call. Return 0 to continue,
 * non-zero to stop. The callback must not call back into the same store. */
typedef int (*shmkv_entry_fn)(void* ctx, const void* key, size_t key_len, const void* value,
                              size_t value_len);
/* The same for the keys-only functions (shmkv_list_keys, shmkv_scan_keys). */
typedef int (*shmkv_key_fn)(void* ctx, const void* key, size_t key_len);

/* A range of keys (shmkv::KeyRange; store.hpp, "Ranges"): the keys that start with prefix, are
 * >= from and are < to, in byte order. Each is a (pointer, length) byte string; length 0 = no
 * such bound. A non-empty `to` below `from` is SHMKV_EINVALID_ARGUMENT (the message names both;
 * nothing changes); to == from is an empty range; a bound may be longer than max_key_bytes.
 * A NULL shmkv_range pointer is the range of every key. */
typedef struct shmkv_range {
  const void* prefix;
  size_t prefix_len;
  const void* from;
  size_t from_len;
  const void* to;
  size_t to_len;
} shmkv_range;

/* Calls fn for up to limit (0 = all) entries whose key starts with prefix. *count (may be
 * NULL) receives the number of calls made. */
int shmkv_list(shmkv_store* store, const void* prefix, size_t prefix_len, size_t limit,
               shmkv_entry_fn fn, void* ctx, size_t* count);
/* shmkv_list over a range. */
int shmkv_list_range(shmkv_store* store, const shmkv_range* range, size_t limit, shmkv_entry_fn fn,
                     void* ctx, size_t* count);
/* shmkv_list_range without the values (none is copied): fn gets each key. */
int shmkv_list_keys(shmkv_store* store, const shmkv_range* range, size_t limit, shmkv_key_fn fn,
                    void* ctx, size_t* count);

/* One page: calls fn for up to limit (0 = all remaining) entries with the prefix whose key
 * sorts strictly after cursor (cursor_len 0 = from the start). The page's cursor (its last
 * key) is returned by the buffer protocol in (next_cursor, cursor_cap, next_cursor_len), and
 * *done (may be NULL) is 1 when no key after it matched. SHMKV_ETOOSMALL for the cursor is
 * reported before fn is called. */
int shmkv_scan(shmkv_store* store, const void* prefix, size_t prefix_len, const void* cursor,
               size_t cursor_len, size_t limit, shmkv_entry_fn fn, void* ctx, void* next_cursor,
               size_t cursor_cap, size_t* next_cursor_len, int* done);
/* shmkv_scan over a range (the cursor still means "strictly after this key"). */
int shmkv_scan_range(shmkv_store* store, const shmkv_range* range, const void* cursor,
                     size_t cursor_len, size_t limit, shmkv_entry_fn fn, void* ctx,
                     void* next_cursor, size_t cursor_cap, size_t* next_cursor_len, int* done);
/* shmkv_scan_range without the values: fn gets each key. */
int shmkv_scan_keys(shmkv_store* store, const shmkv_range* range, const void* cursor,
                    size_t cursor_len, size_t limit, shmkv_key_fn fn, void* ctx, void* next_cursor,
                    size_t cursor_cap, size_t* next_cursor_len, int* done);

/* One page into a caller buffer, for callers that cannot take callbacks (FFI). Copies as many
 * whole entries as fit in cap bytes (and at most limit; 0 = no limit), each as
 *   uint32_t key_len, uint32_t value_len (native byte order, unaligned), key, value
 * and sets *used (bytes written), *count (entries) and *done (1 when no entry after the last
 * one copied matched). Continue with the last key copied as cursor. If not even the first
 * entry fits, returns SHMKV_ETOOSMALL with *used = the bytes it needs. */
int shmkv_scan_buf(shmkv_store* store, const void* prefix, size_t prefix_len, const void* cursor,
                   size_t cursor_len, size_t limit, void* buf, size_t cap, size_t* used,
                   size_t* count, int* done);
/* shmkv_scan_buf over a range. */
int shmkv_scan_buf_range(shmkv_store* store, const shmkv_range* range, const void* cursor,
                         size_t cursor_len, size_t limit, void* buf, size_t cap, size_t* used,
                         size_t* count, int* done);
/* shmkv_scan_buf_range without the values: each key is copied as
 *   uint32_t key_len (native byte order, unaligned), key
 * (a key that does not fit in an empty buffer: SHMKV_ETOOSMALL, *used = the bytes it needs). */
int shmkv_scan_keys_buf(shmkv_store* store, const shmkv_range* range, const void* cursor,
                        size_t cursor_len, size_t limit, void* buf, size_t cap, size_t* used,
                        size_t* count, int* done);

/* Number of live keys starting with prefix (prefix_len 0 = all) into *count. */
int shmkv_count(shmkv_store* store, const void* prefix, size_t prefix_len, uint64_t* count);
/* Number of live keys in the range into *count. */
int shmkv_count_range(shmkv_store* store, const shmkv_range* range, uint64_t* count);
/* Deletes up to limit (0 = all) keys starting with prefix. *deleted and *done (1 if no key with
 * the prefix remains) may be NULL. */
int shmkv_delete_prefix(shmkv_store* store, const void* prefix, size_t prefix_len, size_t limit,
                        uint64_t* deleted, int* done);
/* Deletes up to limit (0 = all) keys in the range; *done is 1 if none remains. A NULL or
 * all-empty range is SHMKV_EINVALID_ARGUMENT (it would delete every key: shmkv_clear does). */
int shmkv_delete_range(shmkv_store* store, const shmkv_range* range, size_t limit,
                       uint64_t* deleted, int* done);
/* Deletes every key. */
int shmkv_clear(shmkv_store* store);

/* ---------------------------------------------------------------------------------------- */
/* Batches. Every key and value is checked first: one bad entry fails the call (naming it) and
 * nothing is written. Each key is applied atomically, the batch as a whole is not. keys and
 * key_lens (values and value_lens) may be NULL only when n is 0. */

/* Reads n keys: *found (may be NULL) receives how many were present, and *values (may be NULL
 * to discard them) a malloc'ed block of n records in key order, each uint32_t found (1 present,
 * 0 absent), uint32_t value_len, value (value_len 0 when absent); *values_len its size. */
int shmkv_get_many(shmkv_store* store, const void* const* keys, const size_t* key_lens, size_t n,
                   void** values, size_t* values_len, size_t* found);
/* Stores n pairs (keys[i] = values[i]), each with the TTL ttl_ms (0 = no expiry). */
int shmkv_set_many(shmkv_store* store, const void* const* keys, const size_t* key_lens,
                   const void* const* values, const size_t* value_lens, size_t n, int64_t ttl_ms);
/* Deletes n keys; *deleted (may be NULL) receives how many existed. */
int shmkv_delete_many(shmkv_store* store, const void* const* keys, const size_t* key_lens, size_t n,
                      uint64_t* deleted);

/* ---------------------------------------------------------------------------------------- */
/* Backup and restore (the snapshot format; see docs/design.md). */

/* Writes a consistent point-in-time copy of the store to path (temporary file + rename: an
 * existing file at path stays intact on failure). *entries and *bytes (file size) may be NULL.
 * SHMKV_EBUSY while another backup or restore runs. */
int shmkv_backup(shmkv_store* store, const char* path, uint64_t* entries, uint64_t* bytes);
/* Replaces the whole content with the backup at path, all or nothing. max_entries / max_bytes
 * (0 = no limit) refuse larger files with SHMKV_ELIMIT_EXCEEDED; a missing file is
 * SHMKV_ENOT_FOUND, a foreign or corrupt one SHMKV_ECORRUPTED; in each case nothing changes.
 * *entries and *bytes (key + value bytes restored) may be NULL. */
int shmkv_restore(shmkv_store* store, const char* path, uint64_t max_entries, uint64_t max_bytes,
                  uint64_t* entries, uint64_t* bytes);

/* ---------------------------------------------------------------------------------------- */
/* Persistence (a store opened with persistence_directory; see persistence.hpp). */

/* Makes every mutation this handle acknowledged durable (journal write + fdatasync) and
 * fdatasyncs the journals of other handles; after a journal or snapshot failure, first writes
 * a snapshot. Memory-only store: does nothing. Errors: SHMKV_EIO_ERROR (naming file and errno). */
int shmkv_sync(shmkv_store* store);
/* Writes a snapshot into the persistence directory now. *entries and *bytes (file size) may be
 * NULL. Errors: SHMKV_EINVALID_ARGUMENT (memory-only store), EBUSY (a snapshot is running),
 * EIO_ERROR. */
int shmkv_snapshot(shmkv_store* store, uint64_t* entries, uint64_t* bytes);

/* What the recovery that created this handle's segment did (shmkv::RecoveryReport). */
typedef struct shmkv_recovery_report {
  int32_t performed; /* 0: the segment existed (attached) or persistence is off */
  uint32_t reserved;
  uint64_t snapshot_seq;
  uint64_t snapshot_entries;
  uint64_t journal_files;   /* journal files read */
  uint64_t records_applied; /* journal records replayed */
  uint64_t records_skipped; /* records already in the snapshot */
  uint64_t truncated_bytes; /* bytes of journal tails cut */
  uint64_t skipped_bytes;   /* damaged journal bytes skipped */
  uint64_t entries;         /* live keys after recovery */
  uint64_t next_seq;
  uint64_t duration_us;
} shmkv_recovery_report;
/* Fills at most report_size bytes of *report. The report's texts come, if messages is not NULL,
 * as a malloc'ed block of NUL-terminated strings "<field>: <text>", field one of directory,
 * snapshot (the file loaded), rejected_snapshots, truncated, skipped and notes (the last four
 * once per entry); *messages is NULL when there is none. Returns the number of strings. */
int shmkv_recovery_report_get(shmkv_store* store, shmkv_recovery_report* report, size_t report_size,
                              void** messages, size_t* messages_len);

/* JSONL, the portable text form of a backup (shmkv::export_jsonl / import_jsonl; one JSON
 * object per line, see persistence.hpp). Export writes path atomically (temporary file,
 * fsync, rename; mode 0600); *entries (lines) and *bytes (key + value bytes) may be NULL.
 * Errors: those of shmkv_backup, and SHMKV_ENOT_FOUND / EPERMISSION_DENIED / EIO_ERROR naming
 * the path. */
int shmkv_export_jsonl(shmkv_store* store, const char* path, uint64_t* entries, uint64_t* bytes);
/* Replaces the whole content with the entries of the JSONL file at path, all or nothing, with
 * the budgets and errors of shmkv_restore; a malformed line is SHMKV_ECORRUPTED naming its line
 * and column. *entries (keys now stored), *bytes and *duplicates (lines replaced by a later line
 * for the same key) may be NULL. A file that cannot be opened: SHMKV_ENOT_FOUND or
 * EPERMISSION_DENIED naming it. */
int shmkv_import_jsonl(shmkv_store* store, const char* path, uint64_t max_entries,
                       uint64_t max_bytes, uint64_t* entries, uint64_t* bytes,
                       uint64_t* duplicates);

/* ---------------------------------------------------------------------------------------- */
/* Random. */

/* 1 and a key drawn uniformly from the live keys starting with prefix (buffer protocol), or 0
 * if there is none. A retry after SHMKV_ETOOSMALL draws again. */
int shmkv_random_key(shmkv_store* store, const void* prefix, size_t prefix_len, void* buf,
                     size_t cap, size_t* len);
/* Atomically removes a uniformly random live entry with the prefix: 1 and malloc'ed copies in
 * *key / *value (free each with shmkv_free; either pointer may be NULL to discard it; both
 * have a NUL byte after their length), or 0 if there is none. Two callers never pop the same
 * entry. */
int shmkv_pop_random(shmkv_store* store, const void* prefix, size_t prefix_len, void** key,
                     size_t* key_len, void** value, size_t* value_len);
/* Pops up to n (1..1,000,000, else SHMKV_EINVALID_ARGUMENT naming it) entries with the prefix
 * as n shmkv_pop_random calls would, and returns how many it popped (0 if none matched). They
 * come in one malloc'ed block (*entries, NULL when none; free it with shmkv_free; entries may
 * be NULL to discard them) of *entries_len bytes, in shmkv_scan_buf's layout: per entry
 * uint32_t key_len, uint32_t value_len, key, value. SHMKV_ENOMEM after popping loses what was
 * popped (the entries are gone from the store). */
int shmkv_pop_random_many(shmkv_store* store, const void* prefix, size_t prefix_len, size_t n,
                          void** entries, size_t* entries_len);

/* Draws count (1..1,000,000, else SHMKV_EINVALID_ARGUMENT naming it) keys uniformly from the
 * live keys with the prefix; unique != 0: no key twice (then at most the number of matching
 * keys). Returns how many it drew (0 if none matched); they come in one malloc'ed block (*keys,
 * NULL when none; keys may be NULL to discard them) of *keys_len bytes, per key uint32_t key_len,
 * key. */
int shmkv_random_keys(shmkv_store* store, const void* prefix, size_t prefix_len, size_t count,
                      int unique, void** keys, size_t* keys_len);

/* ---------------------------------------------------------------------------------------- */
/* Coordination: claims, locks and semaphores (store.hpp; shared-memory stores only: on a server
 * every one of these is SHMKV_EINVALID_ARGUMENT). Each grant is held by the calling process
 * until it gives it back, its lease runs out, or the process dies: the next attempt by anyone
 * finds the dead holder and takes its place without waiting for the lease. Tokens only grow
 * (fencing): a call with a token that no longer holds the grant changes nothing and returns 0.
 * lease_ms must be > 0 and wait_ms >= 0 (0 = do not wait), else SHMKV_EINVALID_ARGUMENT; names
 * follow the key rules. SHMKV_ELIMIT_EXCEEDED when 1,792 grants are held in the store. A claim
 * is returned in malloc'ed copies (free each with shmkv_free; any out pointer may be NULL to
 * discard it; the copies have a NUL byte after their length): a retry would claim again
 * (SHMKV_ENOMEM after the claim was taken leaves it held until its lease ends). */

/* Claims the live key for lease_ms: 1 with its value in *value and the claim's token in *token,
 * or 0 if the key is absent or claimed by another live holder (*value NULL, *token 0). A claimed
 * key stays in the store (get and list see it); claims, claim_random and pop_random of anyone
 * leave it alone until the claim ends. */
int shmkv_claim(shmkv_store* store, const void* key, size_t key_len, int64_t lease_ms, void** value,
                size_t* value_len, uint64_t* token);
/* Claims a key drawn uniformly from the live unclaimed keys with the prefix: 1 with the key,
 * its value and the token, or 0 if there is none. */
int shmkv_claim_random(shmkv_store* store, const void* prefix, size_t prefix_len, int64_t lease_ms,
                       void** key, size_t* key_len, void** value, size_t* value_len,
                       uint64_t* token);
/* 1 if the token still holds the claim and its lease now ends lease_ms from now, else 0. */
int shmkv_renew(shmkv_store* store, const void* key, size_t key_len, uint64_t token,
                int64_t lease_ms);
/* Gives the claim back (the key returns to the pool): 1, or 0 if the token no longer holds it. */
int shmkv_release(shmkv_store* store, const void* key, size_t key_len, uint64_t token);
/* Ends the claim and deletes the key, atomically: 1, or 0 (nothing deleted) if the token no
 * longer holds it. */
int shmkv_complete(shmkv_store* store, const void* key, size_t key_len, uint64_t token);

/* Takes the named lock for lease_ms: 1 with its token in *token, or 0 (*token 0) when another
 * live holder kept it for all of wait_ms. A waiter sleeps on a futex in the segment, woken by
 * shmkv_unlock, by the holder's exit or at the holder's lease end; it never polls. */
int shmkv_lock(shmkv_store* store, const void* name, size_t name_len, int64_t lease_ms,
               int64_t wait_ms, uint64_t* token);
/* 1 if the token held the lock and released it, else 0. */
int shmkv_unlock(shmkv_store* store, const void* name, size_t name_len, uint64_t token);
/* Takes a permit of the counting semaphore `name` with `permits` (>= 1; pass the same count
 * everywhere) permits: 1 with its token, or 0 (*token 0) after wait_ms. A permit has no lease:
 * it is held until shmkv_release_permit or the holder's death. */
int shmkv_acquire(shmkv_store* store, const void* name, size_t name_len, uint32_t permits,
                  int64_t wait_ms, uint64_t* token);
/* 1 if the token held a permit and gave it back, else 0. */
int shmkv_release_permit(shmkv_store* store, const void* name, size_t name_len, uint64_t token);

/* Waiting without polling (shared-memory stores; SHMKV_EINVALID_ARGUMENT on a server): the
 * waiter sleeps on a futex in the segment that writers move while anyone waits. timeout_ms >= 0
 * (0 = do not wait), else SHMKV_EINVALID_ARGUMENT. A waiter killed while waiting leaves nothing
 * behind. */

/* 1 once the key exists (at once if it does), 0 after timeout_ms. */
int shmkv_wait_for(shmkv_store* store, const void* key, size_t key_len, int64_t timeout_ms);
/* shmkv_pop_random, waiting up to timeout_ms for a key with the prefix to pop: 1 with malloc'ed
 * copies in *key / *value (free each with shmkv_free; either pointer may be NULL to discard it),
 * or 0 after timeout_ms. */
int shmkv_pop_random_wait(shmkv_store* store, const void* prefix, size_t prefix_len,
                          int64_t timeout_ms, void** key, size_t* key_len, void** value,
                          size_t* value_len);
/* Waits until `parties` (>= 1; pass the same count everywhere) processes have arrived at the
 * barrier `name`: 1 with this arrival's index (0 .. parties - 1; the last to arrive gets
 * parties - 1) in *index (may be NULL), or 0 after timeout_ms (the arrival is withdrawn).
 * Reusable: the next arrivals start a new round. A party that dies while the others wait breaks
 * the round: they get SHMKV_EBROKEN instead of hanging. */
int shmkv_barrier(shmkv_store* store, const void* name, size_t name_len, uint32_t parties,
                  int64_t timeout_ms, uint32_t* index);

/* ---------------------------------------------------------------------------------------- */
/* Whole store. Structures may gain fields at the end: pass sizeof(struct) as *_size; the
 * library fills at most that many bytes. */

typedef struct shmkv_info {
  char name[208]; /* NUL-terminated */
  uint32_t layout_version;
  uint32_t shards;
  uint64_t layout_fingerprint;
  uint64_t created_unix_ms;
  uint64_t size_bytes;
  uint32_t max_key_bytes;
  uint32_t max_value_bytes;
  uint64_t max_keys;         /* hash-table slots over all shards */
  uint64_t arena_bytes;      /* bytes available for records */
  uint64_t arena_used_bytes; /* bytes held by shards */
  uint64_t live_keys;        /* expired keys included until reclaimed */
  uint64_t processes;        /* registered processes (see shmkv_info_processes) */
  uint64_t recoveries;       /* shard repairs after a lock holder died, summed */
  uint32_t home_block_bytes; /* 0 = no home blocks */
  uint32_t pad;
  uint64_t home_records; /* records stored in their home blocks */
  char engine[16];       /* NUL-terminated: "shm" (shared memory) or "redis" (a url's server);
                            on "redis" the segment's figures above are 0 */
  /* The coordination table (claims, locks, permits, barriers; 0 on "redis"); its entries come
   * from shmkv_info_grants. */
  uint32_t coordination_capacity; /* grants that can be held at once */
  uint32_t coordination_used;     /* entries in use (lapsed ones until someone meets them) */
  uint64_t coordination_last_token;
  uint32_t coordination_waiters; /* processes sleeping on its futex word now */
  uint32_t pad2;
  uint64_t coordination_recoveries; /* repairs after a holder of its lock died */
} shmkv_info;

typedef struct shmkv_shard_info {
  uint64_t live_keys;
  uint64_t capacity;
  uint64_t arena_bytes;
  uint64_t used_bytes;
  uint64_t recoveries;
  uint32_t max_probe;
  uint32_t reserved;
} shmkv_shard_info;

typedef struct shmkv_process_info {
  int32_t pid;
  int32_t alive;
  uint64_t start_time; /* clock ticks since boot */
} shmkv_process_info;

/* One entry of the coordination table (shmkv::GrantInfo). */
typedef struct shmkv_grant_info {
  char kind[16];          /* NUL-terminated: "claim", "lock", "permit", "barrier" (a round's
                             state) or "arrival" */
  char name_head[8];      /* the first name_head_len bytes of the key or name (no NUL) */
  uint32_t name_head_len; /* at most 8 */
  uint32_t name_bytes;    /* the name's whole length */
  uint64_t token;         /* the fencing token */
  int32_t holder_pid;     /* 0: held by nobody (a barrier's state) */
  int32_t holder_alive;   /* 0: free at the next attempt */
  int64_t lease_left_ms;  /* -1: no lease; 0: lapsed */
} shmkv_grant_info;

typedef struct shmkv_stats {
  uint64_t gets, hits, misses, sets, deletes;
  uint64_t cas_success, cas_failure;
  uint64_t lock_waits, recoveries;
} shmkv_stats;

int shmkv_info_get(shmkv_store* store, shmkv_info* info, size_t info_size);
/* Per-shard records into an array of cap elements; *count = shards. SHMKV_ETOOSMALL (with
 * *count = the number needed) if cap is smaller; arr may be NULL with cap 0 to ask. */
int shmkv_info_shards(shmkv_store* store, shmkv_shard_info* arr, size_t cap, size_t* count);
/* Registered processes, same protocol. */
int shmkv_info_processes(shmkv_store* store, shmkv_process_info* arr, size_t cap, size_t* count);
/* The entries of the coordination table (held claims, locks and permits, barrier rounds), same
 * protocol; none on a server. */
int shmkv_info_grants(shmkv_store* store, shmkv_grant_info* arr, size_t cap, size_t* count);
int shmkv_stats_get(shmkv_store* store, shmkv_stats* stats, size_t stats_size);
/* Number of live (unexpired) keys into *count. */
int shmkv_size(shmkv_store* store, uint64_t* count);
/* Verifies every shard's invariants (one shard lock at a time). Returns the number of
 * violations (0 = healthy) and, if report is not NULL, a malloc'ed block of that many
 * NUL-terminated messages (*report NULL when healthy; *report_len its size). */
int shmkv_check_invariants(shmkv_store* store, void** report, size_t* report_len);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SHMKV_SHMKV_H */
