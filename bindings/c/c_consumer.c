/* c_consumer.c: the C API used from C99 (compiled with -std=c99 -pedantic -Werror), linked
 * against libshmkv.so. A smoke test that the header is plain C and the library links from C. */
#include <shmkv/shmkv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures = 0;

#define CHECK(cond)                                                                           \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: %s\n", __FILE__, __LINE__, #cond, \
              shmkv_last_error());                                                            \
      ++failures;                                                                             \
    }                                                                                         \
  } while (0)

static int count_entry(void* ctx, const void* key, size_t key_len, const void* value,
                       size_t value_len) {
  (void)key;
  (void)value;
  *(size_t*)ctx += key_len + value_len;
  return 0;
}

int main(void) {
  char name[64];
  shmkv_options opts;
  shmkv_store* store = NULL;
  char buf[16];
  size_t len = 0, n = 0, bytes = 0;
  int64_t counter = 0;
  void* prev = NULL;
  int rc;

  snprintf(name, sizeof name, "c-consumer-%ld", (long)getpid());
  shmkv_options_init(&opts);
  opts.size_bytes = 4u << 20;
  opts.shards = 4;
  opts.max_key_bytes = 64;
  rc = shmkv_open(name, &opts, sizeof opts, &store);
  CHECK(rc == SHMKV_OK);
  if (rc != SHMKV_OK) return 1;

  CHECK(shmkv_set(store, "greeting", 8, "hello, world", 12, 0) == 0);
  CHECK(shmkv_get(store, "greeting", 8, buf, sizeof buf, &len) == 1 && len == 12);
  CHECK(memcmp(buf, "hello, world", 12) == 0);
  CHECK(shmkv_get(store, "greeting", 8, buf, 4, &len) == SHMKV_ETOOSMALL && len == 12);
  CHECK(shmkv_get(store, "missing", 7, buf, sizeof buf, &len) == 0);
  CHECK(shmkv_incr(store, "n", 1, 41, &counter) == 0 && counter == 41);
  CHECK(shmkv_incr(store, "n", 1, 1, &counter) == 0 && counter == 42);
  CHECK(shmkv_swap(store, "n", 1, "x", 1, &prev, &len) == 1 && len == 2 &&
        strcmp((const char*)prev, "42") == 0);
  shmkv_free(prev);
  CHECK(shmkv_incr(store, "n", 1, 1, NULL) == SHMKV_ENOT_A_NUMBER);
  CHECK(strcmp(shmkv_errname(shmkv_last_error_code()), "not_a_number") == 0);
  CHECK(shmkv_set(store, "k", 0, "v", 1, 0) == SHMKV_EINVALID_ARGUMENT);
  CHECK(strlen(shmkv_strerror(SHMKV_ETOOSMALL)) > 0);
  CHECK(shmkv_list(store, "", 0, 0, count_entry, &bytes, &n) == 0 && n == 2 && bytes == 22);

  shmkv_close(store);
  CHECK(shmkv_destroy(name) == 0);
  CHECK(shmkv_segment_exists(name) == 0);
  if (failures == 0) printf("c_consumer: ok (libshmkv %s)\n", shmkv_version());
  return failures == 0 ? 0 : 1;
}
