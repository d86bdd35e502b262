/* Unit tests of src/base: the byte ring (absolute positions, wrapping, readers that fall behind),
 * the capped byte buffer, string vectors, base64 in both alphabets (RFC 4648 vectors and hostile
 * input), the default paths (XDG variables set, unset, relative, empty) and mkdir -p, gzip
 * (round trips at chunk boundaries, the inflation cap, damaged members) and VEC_RESERVE. Each
 * module's edges come first: empty, exactly at a boundary, one past it. */
#include "unit.h"
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base64.h"
#include "base/buf.h"
#include "base/errmsg.h"
#include "base/gzip.h"
#include "base/list.h"
#include "base/paths.h"
#include "base/ring.h"
#include "base/strpack.h"
#include "base/strv.h"
#include "base/vec.h"

/* Some cases ask for more memory than exists, to see -ENOMEM come back with everything
 * untouched. AddressSanitizer would abort on such a request instead of returning NULL as the C
 * library does; this makes it behave like the C library. Unused in a build without it. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

/* ---- ring ---- */

/* The byte written at absolute position pos, in every ring test: a pattern whose bytes differ
 * between positions 4, 8, 16 or 32 KiB apart (every storage size used here), so a byte read from
 * the wrong index shows. */
static uint8_t pat(uint64_t pos)
{
    return (uint8_t)(pos * 131 + pos / 257);
}

/* Writes n pattern bytes, continuing at the ring's end. */
static void ring_write_pat(struct ring *r, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        d[i] = pat(ring_end(r) + i);
    ck_assert_int_eq(ring_write(r, d, n), 0);
    free(d);
}

/* Checks n bytes read at position pos against the pattern, naming the first wrong one. */
static void expect_pat(const uint8_t *got, uint64_t pos, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (got[i] != pat(pos + i))
            ck_abort_msg("byte at %llu", (unsigned long long)(pos + i));
}

/* Everything from pos to the end is the pattern, through ring_copy and through ring_peek. */
static void ring_expect(const struct ring *r, uint64_t pos)
{
    size_t n = (size_t)(ring_end(r) - pos);
    uint8_t *got = malloc(n ? n : 1);
    ring_copy(r, pos, got);
    expect_pat(got, pos, n);
    free(got);
    const uint8_t *p;
    size_t k;
    for (; (k = ring_peek(r, pos, &p)) > 0; pos += k)
        expect_pat(p, pos, k);
    ck_assert_uint_eq(pos, ring_end(r));
}

START_TEST(ring_init_rounds_cap)
{
    static const struct {
        size_t in, cap;
    } cases[] = {
        {0, 4096},    {1, 4096},    {4095, 4096},  {4096, 4096},
        {4097, 8192}, {8192, 8192}, {8193, 16384}, {100000, 131072},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ring r;
        const uint8_t *p;
        ring_init(&r, cases[i].in);
        ck_assert_msg(r.cap == cases[i].cap, "%zu: %zu", cases[i].in, r.cap);
        ck_assert_uint_eq(ring_start(&r), 0);
        ck_assert_uint_eq(ring_end(&r), 0);
        ck_assert_uint_eq(ring_peek(&r, 0, &p), 0); /* empty: nothing to read, nothing held */
        ring_done(&r);
        ring_done(&r); /* twice is harmless */
    }
}
END_TEST

START_TEST(ring_exactly_full_then_one_more)
{
    struct ring r;
    const uint8_t *p;

    ring_init(&r, 4096);
    ring_write_pat(&r, 4096);
    ck_assert_uint_eq(ring_start(&r), 0); /* exactly cap bytes: all kept */
    ck_assert_uint_eq(ring_end(&r), 4096);
    ring_expect(&r, 0);
    ck_assert_uint_eq(ring_peek(&r, 4096, &p), 0); /* at the end */

    ring_write_pat(&r, 1);
    ck_assert_uint_eq(ring_start(&r), 1); /* one past: the oldest byte went */
    ck_assert_uint_eq(ring_end(&r), 4097);
    ck_assert_uint_eq(ring_peek(&r, 0, &p), 0);    /* a range no longer held */
    ck_assert_uint_eq(ring_peek(&r, 1, &p), 4095); /* to the end of the storage */
    ck_assert_uint_eq(ring_peek(&r, 4096, &p), 1); /* the new byte, at index 0 */
    ck_assert_ptr_eq(p, r.data);
    ck_assert_uint_eq(*p, pat(4096));
    ring_expect(&r, 1);
    ring_done(&r);
}
END_TEST

/* A write larger than the ring keeps its tail and counts all of it; what was held before is
 * older than anything kept, so it goes too. */
START_TEST(ring_write_past_cap)
{
    static const struct {
        size_t before, n;
    } cases[] = {
        {0, 4096}, {0, 4097}, {3, 4096}, {3, 4097}, {4096, 4096}, {5000, 3 * 4096 + 7}, {1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ring r;
        ring_init(&r, 4096);
        ring_write_pat(&r, cases[i].before);
        ring_write_pat(&r, cases[i].n);
        uint64_t end = cases[i].before + cases[i].n;
        ck_assert_uint_eq(ring_end(&r), end);
        ck_assert_msg(ring_start(&r) == (end > 4096 ? end - 4096 : 0), "case %zu: start %llu", i,
                      (unsigned long long)ring_start(&r));
        ring_expect(&r, ring_start(&r));
        ring_done(&r);
    }
}
END_TEST

/* Storage doubles from 4 KiB to the cap and never further; positions and bytes survive every
 * growth. */
START_TEST(ring_grows_by_doubling_to_cap)
{
    static const size_t sizes[] = {4096, 8192, 16384, 16384, 16384, 16384, 16384, 16384, 16384};
    struct ring r;

    ring_init(&r, 16384);
    ck_assert_ptr_null(r.data); /* a quiet stream costs nothing */
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        ring_write_pat(&r, 3000);
        ck_assert_msg(r.size == sizes[i], "after write %zu: size %zu", i, r.size);
        uint64_t end = (i + 1) * 3000;
        ck_assert_uint_eq(ring_end(&r), end);
        ck_assert_uint_eq(ring_start(&r), end > 16384 ? end - 16384 : 0);
        ring_expect(&r, ring_start(&r));
    }
    ring_done(&r);
}
END_TEST

/* A reader that reads less than the writer writes falls behind; whenever it finds its position
 * gone it learns exactly how many bytes it missed, and every byte it did read is the right one. */
START_TEST(ring_slow_reader_counts_missed_bytes)
{
    struct ring r;
    uint64_t reader = 0, missed = 0, read = 0;

    ring_init(&r, 8192);
    for (int round = 0; round < 60; round++) {
        ring_write_pat(&r, 997);
        if (reader < ring_start(&r)) {
            missed += ring_start(&r) - reader;
            reader = ring_start(&r);
        }
        for (size_t want = 400; want > 0;) {
            const uint8_t *p;
            size_t n = ring_peek(&r, reader, &p);
            if (n == 0)
                break;
            n = n < want ? n : want;
            expect_pat(p, reader, n);
            reader += n, read += n, want -= n;
        }
    }
    ck_assert_uint_eq(read + missed, reader);
    ck_assert_uint_eq(read, 60 * 400);
    ck_assert_uint_eq(ring_end(&r) - reader, 8192 - 400); /* as far behind as a ring can be */
    ck_assert_uint_gt(missed, 0);
    ring_done(&r);
}
END_TEST

/* The zero-copy writer: room runs to the end of the storage, then starts again at index 0 over
 * the oldest bytes. */
START_TEST(ring_space_wraps_to_index_zero)
{
    struct ring r;
    uint8_t *p;
    size_t n;

    ring_init(&r, 4096);
    ck_assert_int_eq(ring_space(&r, 0, &p, &n), 0); /* want 0: still some room */
    ck_assert_uint_eq(n, 1);
    ring_write_pat(&r, 4000);
    ck_assert_int_eq(ring_space(&r, 200, &p, &n), 0);
    ck_assert_uint_eq(n, 96);
    ck_assert_ptr_eq(p, r.data + 4000);
    for (size_t i = 0; i < n; i++)
        p[i] = pat(4000 + i);
    ring_commit(&r, n);
    ck_assert_uint_eq(ring_start(&r), 0);
    ck_assert_int_eq(ring_space(&r, 104, &p, &n), 0);
    ck_assert_uint_eq(n, 104);
    ck_assert_ptr_eq(p, r.data);
    for (size_t i = 0; i < 60; i++) /* fewer than offered */
        p[i] = pat(4096 + i);
    ring_commit(&r, 60);
    ck_assert_uint_eq(ring_end(&r), 4156);
    ck_assert_uint_eq(ring_start(&r), 60);
    ring_expect(&r, 60);
    ring_done(&r);
}
END_TEST

/* ---- buf ---- */

START_TEST(buf_cap_is_exact)
{
    struct buf b;
    uint8_t *tail;

    buf_init(&b, 0);
    ck_assert_uint_eq(b.cap, SIZE_MAX); /* 0: no cap */
    buf_done(&b);

    buf_init(&b, 10);
    ck_assert_ptr_null(buf_head(&b));
    ck_assert_int_eq(buf_append(&b, "x", 0), 0);
    ck_assert_ptr_null(buf_head(&b)); /* nothing to store, nothing allocated */
    ck_assert_int_eq(buf_append(&b, "0123456789a", 11), -ENOBUFS);
    ck_assert_ptr_null(b.data); /* a refused append allocates nothing */
    ck_assert_int_eq(buf_append(&b, "0123456789", 10), 0);
    ck_assert_int_eq(buf_append(&b, "a", 1), -ENOBUFS);
    ck_assert_int_eq(buf_reserve(&b, 1, &tail), -ENOBUFS);
    ck_assert_int_eq(buf_reserve(&b, 0, &tail), 0);
    ck_assert_uint_eq(b.len, 10);
    ck_assert_mem_eq(buf_head(&b), "0123456789", 10);
    /* The cap counts what is held, not what was ever appended. */
    buf_consume(&b, 4);
    ck_assert_uint_eq(b.len, 6);
    ck_assert_mem_eq(buf_head(&b), "456789", 6);
    ck_assert_int_eq(buf_append(&b, "ab", 2), 0);
    ck_assert_int_eq(buf_append(&b, "cd", 2), 0);
    ck_assert_int_eq(buf_append(&b, "e", 1), -ENOBUFS);
    ck_assert_mem_eq(buf_head(&b), "456789abcd", 10);
    buf_done(&b);
    buf_done(&b);
}
END_TEST

START_TEST(buf_reserve_then_commit)
{
    struct buf b;
    uint8_t *tail;

    buf_init(&b, 1000);
    ck_assert_int_eq(buf_reserve(&b, 100, &tail), 0);
    ck_assert_ptr_eq(tail, buf_head(&b));
    ck_assert_uint_eq(b.len, 0); /* reserved is not held */
    memset(tail, 'r', 100);
    buf_commit(&b, 60); /* fewer than reserved */
    ck_assert_uint_eq(b.len, 60);
    ck_assert_int_eq(buf_reserve(&b, 940, &tail), 0); /* up to the cap exactly */
    ck_assert_ptr_eq(tail, buf_head(&b) + 60);
    memset(tail, 's', 940);
    buf_commit(&b, 940);
    ck_assert_int_eq(buf_reserve(&b, 1, NULL), -ENOBUFS);
    ck_assert_uint_eq(b.len, 1000);
    ck_assert_uint_eq(buf_head(&b)[59], 'r');
    ck_assert_uint_eq(buf_head(&b)[60], 's');
    ck_assert_uint_eq(buf_head(&b)[999], 's');
    buf_done(&b);

    /* Room past the address space, on an uncapped buffer whose front was consumed: start +
     * len + n would wrap to a small number and look like room that exists. */
    buf_init(&b, 0);
    ck_assert_int_eq(buf_append(&b, "ab", 2), 0);
    buf_consume(&b, 1);
    ck_assert_int_eq(buf_reserve(&b, SIZE_MAX - 1, &tail), -ENOMEM);
    ck_assert_uint_eq(b.len, 1);
    ck_assert_uint_eq(buf_head(&b)[0], 'b');
    buf_done(&b);
}
END_TEST

START_TEST(buf_consume_edges)
{
    static const struct {
        size_t consume, len, start;
    } cases[] = {
        {0, 8, 0}, {1, 7, 1}, {7, 1, 7}, {8, 0, 0}, {9, 0, 0}, {SIZE_MAX, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct buf b;
        buf_init(&b, 0);
        ck_assert_int_eq(buf_append(&b, "abcdefgh", 8), 0);
        buf_consume(&b, cases[i].consume);
        ck_assert_uint_eq(b.len, cases[i].len);
        ck_assert_uint_eq(b.start, cases[i].start);
        ck_assert_mem_eq(buf_head(&b), "abcdefgh" + cases[i].start, cases[i].len);
        buf_done(&b);
    }
}
END_TEST

/* Used as a queue, a buffer moves its live bytes down before it grows: it stays as small as its
 * peak contents. */
START_TEST(buf_queue_reuses_consumed_front)
{
    struct buf b;
    uint8_t chunk[200];

    buf_init(&b, 0);
    for (size_t i = 0; i < sizeof chunk; i++)
        chunk[i] = (uint8_t)i;
    ck_assert_int_eq(buf_append(&b, chunk, 200), 0);
    size_t alloc = b.alloc;
    uint8_t *data = b.data;
    for (int round = 0; round < 50; round++) {
        buf_consume(&b, 150);
        ck_assert_int_eq(buf_append(&b, chunk, 150), 0);
        ck_assert_uint_eq(b.len, 200);
        ck_assert_ptr_eq(b.data, data); /* moved down, not reallocated */
    }
    ck_assert_uint_eq(b.alloc, alloc);
    /* Each round leaves the tail of the previous append, then the new one... */
    ck_assert_mem_eq(buf_head(&b), chunk + 100, 50);
    ck_assert_mem_eq(buf_head(&b) + 50, chunk, 150);
    /* ...and growing past the storage keeps them too. */
    ck_assert_int_eq(buf_append(&b, chunk, 200), 0);
    ck_assert_uint_gt(b.alloc, alloc);
    ck_assert_mem_eq(buf_head(&b) + 50, chunk, 150);
    ck_assert_mem_eq(buf_head(&b) + 200, chunk, 200);
    buf_done(&b);
}
END_TEST

START_TEST(buf_reset_keeps_small_storage)
{
    struct buf b;

    buf_init(&b, 0);
    buf_reset(&b, 0); /* never allocated: nothing to do */
    ck_assert_ptr_null(b.data);
    ck_assert_int_eq(buf_append(&b, "hello", 5), 0);
    size_t alloc = b.alloc;
    uint8_t *data = b.data;
    buf_consume(&b, 2);
    buf_reset(&b, alloc); /* exactly keep: kept */
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.start, 0);
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(b.alloc, alloc);
    ck_assert_int_eq(buf_append(&b, "again", 5), 0);
    ck_assert_mem_eq(buf_head(&b), "again", 5);
    buf_reset(&b, alloc - 1); /* one below: freed */
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.alloc, 0);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_int_eq(buf_append(&b, "third", 5), 0);
    ck_assert_mem_eq(buf_head(&b), "third", 5);
    buf_done(&b);
}
END_TEST

/* More than memory can hold: -ENOMEM, and what the buffer held is still there. */
START_TEST(buf_out_of_memory_leaves_contents)
{
    struct buf b;
    uint8_t *tail = NULL;

    buf_init(&b, 0);
    ck_assert_int_eq(buf_append(&b, "keep", 4), 0);
    uint8_t *data = b.data;
    ck_assert_int_eq(buf_reserve(&b, SIZE_MAX - 4, &tail), -ENOMEM);
    ck_assert_ptr_null(tail); /* ret_tail written only on success */
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(b.len, 4);
    ck_assert_mem_eq(buf_head(&b), "keep", 4);
    ck_assert_int_eq(buf_reserve(&b, SIZE_MAX - 3, &tail), -ENOBUFS); /* past SIZE_MAX held */
    buf_done(&b);
}
END_TEST

/* ---- strv ---- */

START_TEST(strv_push_copy_free)
{
    char **v = NULL;
    size_t n = 0;

    strv_free(NULL);
    ck_assert_int_eq(strv_push(&v, &n, NULL), -ENOMEM); /* a failed strdup passed along */
    ck_assert_ptr_null(v);
    ck_assert_uint_eq(n, 0);
    static const char *const words[] = {"one", "", "three"};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(strv_push(&v, &n, strdup(words[i])), 0);
        ck_assert_uint_eq(n, i + 1);
        ck_assert_str_eq(v[i], words[i]);
        ck_assert_ptr_null(v[n]); /* terminated after every push */
    }
    char **before = v;
    ck_assert_int_eq(strv_push(&v, &n, NULL), -ENOMEM);
    ck_assert_ptr_eq(v, before);
    ck_assert_uint_eq(n, 3);

    char **c = strv_copy(v);
    ck_assert_ptr_nonnull(c);
    ck_assert(strv_equal(c, v));
    for (size_t i = 0; i < n; i++)
        ck_assert_ptr_ne(c[i], v[i]); /* deep */
    strv_free(v);
    ck_assert_str_eq(c[2], "three"); /* the copy outlives the original */
    strv_free(c);

    c = strv_copy(NULL);
    ck_assert_ptr_nonnull(c); /* an empty vector, not NULL */
    ck_assert_ptr_null(c[0]);
    strv_free(c);
}
END_TEST

START_TEST(strv_equal_cases)
{
    static char *empty[] = {NULL};
    static char *a[] = {"a", NULL};
    static char *a2[] = {"a", NULL};
    static char *b[] = {"b", NULL};
    static char *ab[] = {"a", "b", NULL};
    static char *ba[] = {"b", "a", NULL};
    static char *blank[] = {"", NULL};
    static char *ax[] = {"ax", NULL};
    static const struct {
        char **x, **y;
        bool eq;
    } cases[] = {
        {NULL, NULL, true}, {NULL, empty, true}, {empty, NULL, true},   {empty, empty, true},
        {a, a2, true},      {ab, ab, true},      {a, b, false},         {a, ab, false},
        {ab, a, false},     {ab, ba, false},     {blank, empty, false}, {NULL, blank, false},
        {a, ax, false},     {ax, a, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(strv_equal(cases[i].x, cases[i].y) == cases[i].eq, "case %zu", i);
}
END_TEST

/* ---- base64 ---- */

/* RFC 4648 §10, and bytes that use the two characters the alphabets disagree on. */
static const struct {
    const char *plain; /* the bytes */
    size_t len;        /* their count */
    const char *std;   /* standard, padded */
    const char *url;   /* URL-safe, unpadded */
} b64_vectors[] = {
    {"", 0, "", ""},
    {"f", 1, "Zg==", "Zg"},
    {"fo", 2, "Zm8=", "Zm8"},
    {"foo", 3, "Zm9v", "Zm9v"},
    {"foob", 4, "Zm9vYg==", "Zm9vYg"},
    {"fooba", 5, "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", 6, "Zm9vYmFy", "Zm9vYmFy"},
    {"\xfb\xff", 2, "+/8=", "-_8"},
    {"\xff\xff\xff", 3, "////", "____"},
    {"\xfb\xef\xbe", 3, "++++", "----"},
    {"\0", 1, "AA==", "AA"},
    {"\0\0\0\0", 4, "AAAAAA==", "AAAAAA"},
};

START_TEST(base64_known_vectors)
{
    for (size_t i = 0; i < sizeof b64_vectors / sizeof b64_vectors[0]; i++) {
        size_t len = b64_vectors[i].len;
        const char *std = b64_vectors[i].std, *url = b64_vectors[i].url;
        /* Exactly the sizes the header promises, so a write past them shows under ASan. */
        char *enc = malloc(base64_encoded_len(len) + 1);
        base64_encode((const uint8_t *)b64_vectors[i].plain, len, enc);
        ck_assert_str_eq(enc, std);
        base64url_encode((const uint8_t *)b64_vectors[i].plain, len, enc);
        ck_assert_str_eq(enc, url);
        free(enc);

        /* Padded, unpadded (gRPC peers leave the padding out), URL-safe. */
        const char *forms[] = {std, std, url};
        const size_t lens[] = {strlen(std), strcspn(std, "="), strlen(url)};
        long (*const decoders[])(const char *, size_t, uint8_t *) = {base64_decode, base64_decode,
                                                                     base64url_decode};
        for (size_t k = 0; k < 3; k++) {
            size_t n = lens[k];
            size_t max = base64_decoded_max(n);
            uint8_t *dec = malloc(max ? max : 1);
            long r = decoders[k](forms[k], n, dec);
            ck_assert_msg(r == (long)len, "vector %zu form %zu: %ld", i, k, r);
            ck_assert_mem_eq(dec, b64_vectors[i].plain, len);
            free(dec);
        }
    }
}
END_TEST

START_TEST(base64_length_macros)
{
    static const struct {
        size_t n, enc, dec;
    } cases[] = {{0, 0, 0}, {1, 4, 3}, {2, 4, 3},  {3, 4, 3}, {4, 8, 3},
                 {5, 8, 6}, {6, 8, 6}, {8, 12, 6}, {9, 12, 9}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_uint_eq(base64_encoded_len(cases[i].n), cases[i].enc);
        ck_assert_uint_eq(base64_decoded_max(cases[i].n), cases[i].dec);
    }
}
END_TEST

#define ANY LONG_MIN /* not part of that decoder's contract */

START_TEST(base64_rejects)
{
    static const struct {
        const char *in;
        size_t len;
        long std, url; /* expected results */
    } cases[] = {
        {"Z", 1, -EINVAL, -EINVAL},                /* 6 bits: no byte */
        {"Zm9vY", 5, -EINVAL, -EINVAL},            /* the same after a full quantum */
        {"Zg=", 3, -EINVAL, -EINVAL},              /* padding short of a quantum */
        {"Zg===", 5, -EINVAL, -EINVAL},            /* three pads */
        {"Zm9v=", 5, -EINVAL, -EINVAL},            /* padding after a full quantum */
        {"Zm9vYg=", 7, -EINVAL, -EINVAL},          /* one pad where two belong */
        {"=", 1, -EINVAL, -EINVAL},                /* padding alone */
        {"====", 4, -EINVAL, -EINVAL},             /* a quantum of padding */
        {"Zg==Zg==", 8, -EINVAL, -EINVAL},         /* padding in the middle */
        {"Zg=a", 4, -EINVAL, -EINVAL},             /* data after padding */
        {"Zg==", 4, 1, -EINVAL},                   /* no padding in the URL-safe form */
        {"Zm9v!", 5, -EINVAL, -EINVAL},            /* outside both alphabets */
        {"Zm 9v", 5, -EINVAL, -EINVAL},            /* whitespace */
        {"Zm9v\n", 5, -EINVAL, -EINVAL},           /* a newline */
        {"Zg\0A", 4, -EINVAL, -EINVAL},            /* a NUL inside the length */
        {"\xff\xfe\xc3\xa9", 4, -EINVAL, -EINVAL}, /* high bytes */
        {"+/8=", 4, 2, -EINVAL},                   /* standard characters */
        {"-_8", 3, -EINVAL, 2},                    /* URL-safe characters */
        {"Zh", 2, ANY, -EINVAL},                   /* bits left over: not canonical */
        {"AB", 2, ANY, -EINVAL},
        {"AAB", 3, ANY, -EINVAL},
        {"AAA", 3, 2, 2},    /* canonical */
        {"Zm9vYg", 6, 4, 4}, /* unpadded, both accept */
        {"", 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t out[16];
        long r = base64_decode(cases[i].in, cases[i].len, out);
        if (cases[i].std != ANY)
            ck_assert_msg(r == cases[i].std, "standard '%s': %ld", cases[i].in, r);
        r = base64url_decode(cases[i].in, cases[i].len, out);
        ck_assert_msg(r == cases[i].url, "url-safe '%s': %ld", cases[i].in, r);
    }
}
END_TEST

/* Every byte value, every remainder mod 3: both alphabets give back what they were given. */
START_TEST(base64_round_trip_every_byte)
{
    for (size_t len = 0; len <= 260; len++) {
        uint8_t *in = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++)
            in[i] = (uint8_t)(i * 37 + len);
        char *enc = malloc(base64_encoded_len(len) + 1);
        uint8_t *dec = malloc(base64_decoded_max(base64_encoded_len(len)) + 1);

        base64_encode(in, len, enc);
        ck_assert_uint_eq(strlen(enc), base64_encoded_len(len));
        ck_assert_int_eq(base64_decode(enc, strlen(enc), dec), (long)len);
        ck_assert(len == 0 || memcmp(dec, in, len) == 0);

        base64url_encode(in, len, enc);
        ck_assert_uint_eq(strlen(enc), (len * 4 + 2) / 3); /* no padding */
        ck_assert_ptr_null(strpbrk(enc, "+/="));
        ck_assert_int_eq(base64url_decode(enc, strlen(enc), dec), (long)len);
        ck_assert(len == 0 || memcmp(dec, in, len) == 0);
        free(in);
        free(enc);
        free(dec);
    }
}
END_TEST

/* ---- paths ---- */

/* Sets or (NULL) unsets a variable; Check runs each test in its own process. */
static void env(const char *name, const char *value)
{
    if (value)
        ck_assert_int_eq(setenv(name, value, 1), 0);
    else
        ck_assert_int_eq(unsetenv(name), 0);
}

/* got is want, with the uid put in where want has %u; got is freed. */
static void expect_path(char *got, const char *want)
{
    char w[256];
    snprintf(w, sizeof w, want, (unsigned)getuid());
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, w);
    free(got);
}

START_TEST(paths_xdg_defaults)
{
    /* An XDG variable counts only when it is an absolute path; HOME likewise, else "/". */
    static const struct {
        const char *runtime, *state, *config, *home; /* the environment; NULL unset */
        const char *sock, *state_dir, *conf, *rp_sock, *rp_db;
    } cases[] = {
        {"/run/u", "/st", "/cf", "/home/u", "/run/u/drover/drover.sock", "/st/drover",
         "/cf/drover/drover.yaml", "/run/u/running-process/daemon-ci.sock",
         "/st/running-process/tracked-pids-ci.sqlite3"},
        {NULL, NULL, NULL, "/home/u", "/tmp/drover-%u/drover.sock", "/home/u/.local/state/drover",
         "/home/u/.config/drover/drover.yaml", "/tmp/running-process-%u/daemon-ci.sock",
         "/home/u/.local/state/running-process/tracked-pids-ci.sqlite3"},
        {"run", "st", "cf", "/home/u", "/tmp/drover-%u/drover.sock", "/home/u/.local/state/drover",
         "/home/u/.config/drover/drover.yaml", "/tmp/running-process-%u/daemon-ci.sock",
         "/home/u/.local/state/running-process/tracked-pids-ci.sqlite3"},
        {"", "", "", "/home/u", "/tmp/drover-%u/drover.sock", "/home/u/.local/state/drover",
         "/home/u/.config/drover/drover.yaml", "/tmp/running-process-%u/daemon-ci.sock",
         "/home/u/.local/state/running-process/tracked-pids-ci.sqlite3"},
        {NULL, NULL, NULL, "/", "/tmp/drover-%u/drover.sock", "/.local/state/drover",
         "/.config/drover/drover.yaml", "/tmp/running-process-%u/daemon-ci.sock",
         "/.local/state/running-process/tracked-pids-ci.sqlite3"},
        {NULL, NULL, NULL, NULL, "/tmp/drover-%u/drover.sock", "/.local/state/drover",
         "/.config/drover/drover.yaml", "/tmp/running-process-%u/daemon-ci.sock",
         "/.local/state/running-process/tracked-pids-ci.sqlite3"},
        {NULL, "/st", NULL, "home/u", "/tmp/drover-%u/drover.sock", "/st/drover",
         "/.config/drover/drover.yaml", "/tmp/running-process-%u/daemon-ci.sock",
         "/st/running-process/tracked-pids-ci.sqlite3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        env("XDG_RUNTIME_DIR", cases[i].runtime);
        env("XDG_STATE_HOME", cases[i].state);
        env("XDG_CONFIG_HOME", cases[i].config);
        env("HOME", cases[i].home);
        expect_path(paths_default_socket(), cases[i].sock);
        expect_path(paths_default_state_dir(), cases[i].state_dir);
        expect_path(paths_default_config(), cases[i].conf);
        expect_path(paths_rp_socket("ci"), cases[i].rp_sock);
        expect_path(paths_rp_db("ci"), cases[i].rp_db);
    }
}
END_TEST

START_TEST(paths_rp_scopes)
{
    env("XDG_RUNTIME_DIR", "/r");
    env("XDG_STATE_HOME", "/s");
    expect_path(paths_rp_socket(NULL), "/r/running-process/daemon.sock");
    expect_path(paths_rp_socket(""), "/r/running-process/daemon.sock");
    expect_path(paths_rp_socket("a-b"), "/r/running-process/daemon-a-b.sock");
    expect_path(paths_rp_db(NULL), "/s/running-process/tracked-pids.sqlite3");
    expect_path(paths_rp_db(""), "/s/running-process/tracked-pids.sqlite3");
    expect_path(paths_rp_db("a-b"), "/s/running-process/tracked-pids-a-b.sqlite3");
    env("XDG_RUNTIME_DIR", NULL);
    expect_path(paths_rp_socket(NULL), "/tmp/running-process-%u/daemon.sock");
}
END_TEST

static unsigned mode_of(const char *path)
{
    struct stat st;
    ck_assert_msg(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
    ck_assert(S_ISDIR(st.st_mode));
    return st.st_mode & 07777;
}

static void rm_rf(const char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(paths_mkdir_modes)
{
    char root[] = "/tmp/drover-base-XXXXXX", p[256], q[256];

    ck_assert_ptr_nonnull(mkdtemp(root));
    umask(0); /* so that the modes asked for are the modes made */
    snprintf(p, sizeof p, "%s/a/b/c", root);
    ck_assert_int_eq(paths_mkdir_p(p, 0750, 0), 0);
    ck_assert_uint_eq(mode_of(p), 0750);
    snprintf(q, sizeof q, "%s/a", root);
    ck_assert_uint_eq(mode_of(q), 0750);            /* every directory it creates */
    ck_assert_int_eq(paths_mkdir_p(p, 0750, 0), 0); /* again: nothing to do */

    /* An existing last component keeps its mode, unless exact_mode; the ones above it keep
     * theirs either way. */
    ck_assert_int_eq(chmod(p, 0711), 0);
    ck_assert_int_eq(paths_mkdir_p(p, 0700, 0), 0);
    ck_assert_uint_eq(mode_of(p), 0711);
    ck_assert_int_eq(paths_mkdir_p(p, 0700, 1), 0);
    ck_assert_uint_eq(mode_of(p), 0700);
    ck_assert_uint_eq(mode_of(q), 0750);

    /* A trailing slash names the same directory. */
    snprintf(p, sizeof p, "%s/t/", root);
    ck_assert_int_eq(paths_mkdir_p(p, 0705, 0), 0);
    ck_assert_uint_eq(mode_of(p), 0705);

    /* A file in the way, last or above. */
    snprintf(p, sizeof p, "%s/file", root);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_int_eq(paths_mkdir_p(p, 0700, 0), -ENOTDIR);
    ck_assert_int_eq(paths_mkdir_p(p, 0700, 1), -ENOTDIR);
    snprintf(p, sizeof p, "%s/file/sub/dir", root);
    ck_assert_int_eq(paths_mkdir_p(p, 0700, 0), -ENOTDIR);

    /* An empty path names no directory (and is not read past its end). */
    ck_assert_int_eq(paths_mkdir_p("", 0700, 0), -ENOENT);

    /* Relative paths work from the current directory. */
    ck_assert_int_eq(chdir(root), 0);
    ck_assert_int_eq(paths_mkdir_p("rel/x", 0700, 0), 0);
    ck_assert_uint_eq(mode_of("rel/x"), 0700);

    /* Someone else's directory is not chmod'ed. Only root can make one to try with. */
    if (geteuid() == 0) {
        snprintf(p, sizeof p, "%s/theirs", root);
        ck_assert_int_eq(mkdir(p, 0755), 0);
        ck_assert_int_eq(chown(p, 65534, 65534), 0);
        ck_assert_int_eq(paths_mkdir_p(p, 0700, 1), -EPERM);
        ck_assert_uint_eq(mode_of(p), 0755);
        ck_assert_int_eq(paths_mkdir_p(p, 0755, 1), 0); /* already right: nothing to change */
    }
    rm_rf(root);
}
END_TEST

START_TEST(paths_mkdir_parent_of_file)
{
    char root[] = "/tmp/drover-base-XXXXXX", p[256], q[256];
    struct stat st;

    ck_assert_ptr_nonnull(mkdtemp(root));
    umask(0);
    ck_assert_int_eq(chdir(root), 0);
    ck_assert_int_eq(paths_mkdir_parent("sock", 0700, 0), 0); /* a bare name: nothing */
    ck_assert_int_eq(stat("sock", &st), -1);
    ck_assert_int_eq(paths_mkdir_parent("/sock", 0700, 0), 0); /* in "/": nothing */
    snprintf(p, sizeof p, "%s/run/drover/drover.sock", root);
    ck_assert_int_eq(paths_mkdir_parent(p, 0710, 0), 0);
    snprintf(q, sizeof q, "%s/run/drover", root);
    ck_assert_uint_eq(mode_of(q), 0710);
    ck_assert_int_eq(stat(p, &st), -1); /* the file itself is not made */
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(chmod(q, 0755), 0);
    ck_assert_int_eq(paths_mkdir_parent(p, 0700, 1), 0);
    ck_assert_uint_eq(mode_of(q), 0700);
    ck_assert_int_eq(paths_mkdir_parent("d/e/f", 0700, 0), 0);
    ck_assert_uint_eq(mode_of("d/e"), 0700);
    rm_rf(root);
}
END_TEST

/* ---- gzip ---- */

/* n bytes that compress somewhat: a counter with noise from a small generator. */
static uint8_t *gz_data(size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        d[i] = (uint8_t)(i / 64 + (x & 7));
    }
    return d;
}

/* Around inflation's 64 KiB steps: the cap exactly, and one byte short of it. */
START_TEST(gzip_round_trip_at_boundaries)
{
    static const size_t sizes[] = {0, 1, 65535, 65536, 65537, 131072, 200001};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        uint8_t *d = gz_data(n);
        struct buf z, out;
        buf_init(&z, 0);
        buf_init(&out, 0);
        ck_assert_int_eq(gzip_deflate(d, n, &z), 0);
        ck_assert_uint_ge(z.len, 18); /* header and trailer at least */
        ck_assert_mem_eq(buf_head(&z), "\x1f\x8b\x08", 3);
        ck_assert_int_eq(gzip_inflate(buf_head(&z), z.len, n, &out), 0);
        ck_assert_uint_eq(out.len, n);
        ck_assert(n == 0 || memcmp(buf_head(&out), d, n) == 0);
        if (n > 0) {
            buf_reset(&out, 0);
            ck_assert_int_eq(gzip_inflate(buf_head(&z), z.len, n - 1, &out), -EMSGSIZE);
        }
        buf_done(&z);
        buf_done(&out);
        free(d);
    }
}
END_TEST

/* 16 MiB of zeros is a few KiB compressed; inflating it under a 1 MiB cap stops near the cap. */
START_TEST(gzip_bomb_stops_at_max)
{
    size_t n = 16u << 20, max = 1u << 20;
    uint8_t *zeros = calloc(1, n);
    struct buf z, out;

    buf_init(&z, 0);
    buf_init(&out, 0);
    ck_assert_int_eq(gzip_deflate(zeros, n, &z), 0);
    ck_assert_uint_lt(z.len, 32768);
    ck_assert_int_eq(gzip_inflate(buf_head(&z), z.len, max, &out), -EMSGSIZE);
    ck_assert_uint_le(out.len, max + 1); /* it did not inflate the rest */
    buf_done(&z);
    buf_done(&out);
    free(zeros);
}
END_TEST

#define ALL  LONG_MAX /* the whole member */
#define NONE INT_MAX  /* no byte damaged */

/* A member damaged in each of the ways a peer might send one, and data after a whole member. */
START_TEST(gzip_rejects_damaged)
{
    static const char text[] = "hello, hello, hello, gzip world; hello again";
    static const struct {
        const char *what;
        long len;         /* bytes of the member sent: from the start, or all but -len */
        int flip;         /* a byte damaged: from the start, or from the end if negative */
        const char *tail; /* sent after it */
    } cases[] = {
        {"empty", 0, NONE, ""},
        {"header only", 10, NONE, ""},
        {"no trailer", -8, NONE, ""},
        {"one byte short", -1, NONE, ""},
        {"bad magic", ALL, 1, ""},
        {"bad method", ALL, 2, ""},
        {"bad crc", ALL, -8, ""},
        {"bad length", ALL, -4, ""},
        {"trailing garbage", ALL, NONE, "x"},
        {"two members", ALL, NONE, NULL},
    };
    struct buf z, out;

    buf_init(&z, 0);
    ck_assert_int_eq(gzip_deflate((const uint8_t *)text, sizeof text, &z), 0);
    size_t n = z.len;
    uint8_t *m = malloc(2 * n);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = cases[i].len == ALL ? n
                     : cases[i].len < 0  ? n - (size_t)-cases[i].len
                                         : (size_t)cases[i].len;
        memcpy(m, buf_head(&z), n);
        if (cases[i].flip != NONE)
            m[cases[i].flip >= 0 ? (size_t)cases[i].flip : n - (size_t)-cases[i].flip] ^= 0x40;
        if (!cases[i].tail) { /* the member again */
            memcpy(m + n, buf_head(&z), n);
            len += n;
        } else {
            memcpy(m + len, cases[i].tail, strlen(cases[i].tail));
            len += strlen(cases[i].tail);
        }
        buf_init(&out, 0);
        ck_assert_msg(gzip_inflate(m, len, 4096, &out) == -EBADMSG, "%s", cases[i].what);
        buf_done(&out);
    }
    buf_init(&out, 0);
    ck_assert_int_eq(gzip_inflate((const uint8_t *)"not gzip at all", 15, 4096, &out), -EBADMSG);
    buf_done(&out);
    /* The intact member, for contrast. */
    buf_init(&out, 0);
    ck_assert_int_eq(gzip_inflate(buf_head(&z), n, 4096, &out), 0);
    ck_assert_mem_eq(buf_head(&out), text, sizeof text);
    buf_done(&out);
    buf_done(&z);
    free(m);
}
END_TEST

/* ---- vec ---- */

START_TEST(vec_growth_doubles_from_eight)
{
    static const struct {
        size_t cap, want, after; /* capacity before, asked for, after */
    } cases[] = {
        {0, 0, 0},  {0, 1, 8},    {0, 8, 8},     {0, 9, 16},       {8, 1, 8},    {8, 8, 8},
        {8, 9, 16}, {16, 17, 32}, {0, 100, 128}, {16, 1000, 1024}, {32, 33, 64},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int *v = NULL;
        size_t cap = 0;
        if (cases[i].cap) {
            ck_assert_int_eq(VEC_RESERVE(v, cap, cases[i].cap), 0);
            ck_assert_uint_eq(cap, cases[i].cap);
            for (size_t k = 0; k < cap; k++)
                v[k] = (int)(k * 3 + 1);
        }
        int *before = v;
        ck_assert_int_eq(VEC_RESERVE(v, cap, cases[i].want), 0);
        ck_assert_msg(cap == cases[i].after, "case %zu: cap %zu", i, cap);
        if (cases[i].want <= cases[i].cap)
            ck_assert_ptr_eq(v, before); /* no-op */
        for (size_t k = 0; k < cases[i].cap; k++)
            ck_assert_int_eq(v[k], (int)(k * 3 + 1)); /* contents kept */
        for (size_t k = 0; k < cap; k++)
            v[k] = 0; /* all of it is there (ASan would tell) */
        free(v);
    }
}
END_TEST

/* Appending one at a time: the capacity follows 8, 16, 32... and nothing is lost. */
START_TEST(vec_append_one_at_a_time)
{
    struct item {
        uint64_t a; /* a value */
        uint32_t b; /* another */
        char c[12]; /* padding to an odd size */
    } *v = NULL;
    size_t n = 0, cap = 0, grows = 0;

    for (uint32_t i = 0; i < 5000; i++) {
        size_t old = cap;
        ck_assert_int_eq(VEC_RESERVE(v, cap, n + 1), 0);
        if (cap != old) {
            ck_assert_uint_eq(cap, old ? old * 2 : 8);
            grows++;
        }
        v[n++] = (struct item){.a = i * 7ull, .b = i};
    }
    ck_assert_uint_eq(cap, 8192);
    ck_assert_uint_eq(grows, 11); /* 8 .. 8192 */
    for (uint32_t i = 0; i < 5000; i++)
        ck_assert(v[i].a == i * 7ull && v[i].b == i);
    free(v);
}
END_TEST

/* Past what size_t can count (in elements or in bytes): -ENOMEM, the array as it was. */
/* ---- errmsg: the message in the caller's buffer, the error as the return value ---- */

START_TEST(errmsg_message_and_error)
{
    char err[64] = "stale";

    ck_assert_int_eq(errmsg_fail(err, sizeof err, -EINVAL, "%s:%u: bad", "file", 7u), -EINVAL);
    ck_assert_str_eq(err, "file:7: bad");
    /* A success code passes through as it is. */
    ck_assert_int_eq(errmsg_fail(err, sizeof err, 0, "fine"), 0);
    ck_assert_str_eq(err, "fine");
}
END_TEST

START_TEST(errmsg_truncated_or_no_buffer)
{
    char err[8];

    ck_assert_int_eq(errmsg_fail(err, sizeof err, -E2BIG, "%s", "a longer message"), -E2BIG);
    ck_assert_str_eq(err, "a longe");
    /* No buffer, or one of no size: only the error. */
    ck_assert_int_eq(errmsg_fail(NULL, 0, -ENOENT, "%s", "unseen"), -ENOENT);
    memcpy(err, "kept", 5);
    ck_assert_int_eq(errmsg_fail(err, 0, -EACCES, "%s", "unseen"), -EACCES);
    ck_assert_str_eq(err, "kept");
}
END_TEST

START_TEST(strpack_one_block)
{
    char *a = (char *)"x", *b = (char *)"x", *c = (char *)"x";
    char **const dst[] = {&a, &b, &c};
    const char *const src[] = {"alpha", NULL, ""};

    ck_assert_int_eq(strpack_copy(dst, src, 3), 0);
    ck_assert_str_eq(a, "alpha");
    ck_assert_str_eq(b, ""); /* NULL is read as "" */
    ck_assert_str_eq(c, "");
    /* One block, in order: the copies follow each other. */
    ck_assert_ptr_eq(b, a + 6);
    ck_assert_ptr_eq(c, b + 1);
    free(a); /* frees every copy: ASan would report the others as leaks otherwise */
}
END_TEST

START_TEST(vec_overflow_leaves_array)
{
    static const size_t wants[] = {
        SIZE_MAX, SIZE_MAX / 2 + 2, SIZE_MAX / 2 + 1, SIZE_MAX / 8 + 1, SIZE_MAX / 16 + 1,
    };
    uint64_t *v = NULL;
    size_t cap = 0;

    for (size_t i = 0; i < sizeof wants / sizeof wants[0]; i++) {
        ck_assert_int_eq(VEC_RESERVE(v, cap, wants[i]), -ENOMEM);
        ck_assert_ptr_null(v);
        ck_assert_uint_eq(cap, 0);
    }
    ck_assert_int_eq(VEC_RESERVE(v, cap, 8), 0);
    for (size_t k = 0; k < 8; k++)
        v[k] = k + 100;
    uint64_t *before = v;
    for (size_t i = 0; i < sizeof wants / sizeof wants[0]; i++) {
        ck_assert_msg(VEC_RESERVE(v, cap, wants[i]) == -ENOMEM, "want %zu", wants[i]);
        ck_assert_ptr_eq(v, before);
        ck_assert_uint_eq(cap, 8);
        for (size_t k = 0; k < 8; k++)
            ck_assert_uint_eq(v[k], k + 100);
    }
    free(v);
}
END_TEST

/* ---- list ---- */

struct item {
    int v;                 /* a digit, to spell the order */
    DLIST_LINK(item) link; /* in the list or queue under test */
};

/* The values from *headp on as digits, checking on the way that each pprev points at the
 * pointer that led to its element. */
static const char *spell(struct item **headp)
{
    static char out[16];
    size_t n = 0;

    for (struct item **pp = headp; *pp; pp = &(*pp)->link.next) {
        ck_assert_ptr_eq((*pp)->link.pprev, pp);
        out[n++] = (char)('0' + (*pp)->v);
    }
    out[n] = '\0';
    return out;
}

/* DLIST: front insertion, removal from anywhere, removal of what is on no list; a removed
 * element keeps its next, so a walk that saved it steps past it. DQUEUE: back insertion, last
 * kept right whichever element goes; arguments evaluated once. */
START_TEST(list_and_queue_link_and_unlink)
{
    struct item it[5] = {{.v = 0}, {.v = 1}, {.v = 2}, {.v = 3}, {.v = 4}};
    struct item *list = NULL;
    char seen[8] = "";
    size_t n = 0;

    DLIST_REMOVE(&it[0], link); /* zeroed: on no list */
    ck_assert(!DLIST_LINKED(&it[0], link));
    for (int k = 0; k < 4; k++)
        DLIST_PREPEND(&list, &it[k], link);
    ck_assert_str_eq(spell(&list), "3210");
    ck_assert(DLIST_LINKED(&it[0], link));
    DLIST_REMOVE(&it[2], link);
    ck_assert_str_eq(spell(&list), "310");
    ck_assert(!DLIST_LINKED(&it[2], link));
    ck_assert_ptr_eq(it[2].link.next, &it[1]);
    DLIST_REMOVE(&it[2], link);
    ck_assert_str_eq(spell(&list), "310");
    DLIST_REMOVE(list, link);
    ck_assert_str_eq(spell(&list), "10");
    DLIST_REMOVE(&it[0], link);
    ck_assert_str_eq(spell(&list), "1");
    DLIST_REMOVE(&it[1], link);
    ck_assert_ptr_null(list);

    /* The body unlinks the element after the current one too, as a callback may. */
    for (int k = 0; k < 3; k++)
        DLIST_PREPEND(&list, &it[k], link);
    for (struct item *i = list, *next; i; i = next) {
        next = i->link.next;
        DLIST_REMOVE(i, link);
        if (i == &it[2])
            DLIST_REMOVE(&it[1], link);
        seen[n++] = (char)('0' + i->v);
    }
    ck_assert_str_eq(seen, "210");
    ck_assert_ptr_null(list);

    DQUEUE_HEAD(item) q = {0};
    for (int k = 0; k < 5; k++)
        DQUEUE_APPEND(&q, &it[k], link);
    ck_assert_str_eq(spell(&q.first), "01234");
    ck_assert_ptr_eq(q.last, &it[4]);
    DQUEUE_REMOVE(&q, &it[4], link);
    ck_assert_str_eq(spell(&q.first), "0123");
    ck_assert_ptr_eq(q.last, &it[3]);
    DQUEUE_REMOVE(&q, q.first, link);
    ck_assert_str_eq(spell(&q.first), "123");
    ck_assert_ptr_eq(q.last, &it[3]);
    DQUEUE_REMOVE(&q, &it[2], link);
    DQUEUE_REMOVE(&q, &it[2], link);
    ck_assert_str_eq(spell(&q.first), "13");
    ck_assert_ptr_eq(q.last, &it[3]);
    DQUEUE_REMOVE(&q, &it[3], link);
    ck_assert_str_eq(spell(&q.first), "1");
    ck_assert_ptr_eq(q.last, &it[1]);
    DQUEUE_APPEND(&q, &it[0], link);
    ck_assert_str_eq(spell(&q.first), "10");
    ck_assert_ptr_eq(q.last, &it[0]);
    DQUEUE_REMOVE(&q, &it[0], link);
    DQUEUE_REMOVE(&q, &it[1], link);
    ck_assert_ptr_null(q.first);
    ck_assert_ptr_null(q.last);
    DQUEUE_APPEND(&q, &it[4], link);
    ck_assert_str_eq(spell(&q.first), "4");
    ck_assert_ptr_eq(q.last, &it[4]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("base");
    TCase *ring = tcase_create("ring");
    tcase_add_test(ring, ring_init_rounds_cap);
    tcase_add_test(ring, ring_exactly_full_then_one_more);
    tcase_add_test(ring, ring_write_past_cap);
    tcase_add_test(ring, ring_grows_by_doubling_to_cap);
    tcase_add_test(ring, ring_slow_reader_counts_missed_bytes);
    tcase_add_test(ring, ring_space_wraps_to_index_zero);
    suite_add_tcase(s, ring);
    TCase *buf = tcase_create("buf");
    tcase_add_test(buf, buf_cap_is_exact);
    tcase_add_test(buf, buf_reserve_then_commit);
    tcase_add_test(buf, buf_consume_edges);
    tcase_add_test(buf, buf_queue_reuses_consumed_front);
    tcase_add_test(buf, buf_reset_keeps_small_storage);
    tcase_add_test(buf, buf_out_of_memory_leaves_contents);
    suite_add_tcase(s, buf);
    TCase *strv = tcase_create("strv");
    tcase_add_test(strv, strv_push_copy_free);
    tcase_add_test(strv, strv_equal_cases);
    suite_add_tcase(s, strv);
    TCase *b64 = tcase_create("base64");
    tcase_add_test(b64, base64_known_vectors);
    tcase_add_test(b64, base64_length_macros);
    tcase_add_test(b64, base64_rejects);
    tcase_add_test(b64, base64_round_trip_every_byte);
    suite_add_tcase(s, b64);
    TCase *paths = tcase_create("paths");
    tcase_add_test(paths, paths_xdg_defaults);
    tcase_add_test(paths, paths_rp_scopes);
    tcase_add_test(paths, paths_mkdir_modes);
    tcase_add_test(paths, paths_mkdir_parent_of_file);
    suite_add_tcase(s, paths);
    TCase *gz = tcase_create("gzip");
    tcase_add_test(gz, gzip_round_trip_at_boundaries);
    tcase_add_test(gz, gzip_bomb_stops_at_max);
    tcase_add_test(gz, gzip_rejects_damaged);
    suite_add_tcase(s, gz);
    TCase *vec = tcase_create("vec");
    tcase_add_test(vec, vec_growth_doubles_from_eight);
    tcase_add_test(vec, vec_append_one_at_a_time);
    tcase_add_test(vec, vec_overflow_leaves_array);
    tcase_add_test(vec, strpack_one_block);
    tcase_add_test(vec, list_and_queue_link_and_unlink);
    suite_add_tcase(s, vec);
    TCase *msg = tcase_create("errmsg");
    tcase_add_test(msg, errmsg_message_and_error);
    tcase_add_test(msg, errmsg_truncated_or_no_buffer);
    suite_add_tcase(s, msg);
    return unit_run(s);
}
