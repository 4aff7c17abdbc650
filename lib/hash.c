/* SipHash (Aumasson and Bernstein, 2012), the keyed hash CPython and Rust
 * use against hash flooding, with 1 compression and 3 finalisation rounds as
 * they do; and the process key it runs under. */
#include "config.h"

#include "hash.h"

#include <endian.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return le64toh(v);
}

struct sip {
    uint64_t v0, v1, v2, v3;
};

static inline void rounds(struct sip *s, int n)
{
    for (int i = 0; i < n; i++) {
        s->v0 += s->v1;
        s->v1 = ROTL(s->v1, 13);
        s->v1 ^= s->v0;
        s->v0 = ROTL(s->v0, 32);
        s->v2 += s->v3;
        s->v3 = ROTL(s->v3, 16);
        s->v3 ^= s->v2;
        s->v0 += s->v3;
        s->v3 = ROTL(s->v3, 21);
        s->v3 ^= s->v0;
        s->v2 += s->v1;
        s->v1 = ROTL(s->v1, 17);
        s->v1 ^= s->v2;
        s->v2 = ROTL(s->v2, 32);
    }
}

/* Inlined into each caller, so that with constant rounds they unroll. */
static inline uint64_t siphash(const unsigned char key[16], int c, int d, const void *data,
                               size_t len)
{
    uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
    struct sip s = { k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
                     k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL };
    const unsigned char *p = data;
    size_t whole = len & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = load_le64(p + i);
        s.v3 ^= m;
        rounds(&s, c);
        s.v0 ^= m;
    }
    unsigned char last[8] = { 0 };
    memcpy(last, p + whole, len - whole);
    uint64_t m = load_le64(last) | ((uint64_t)len << 56);
    s.v3 ^= m;
    rounds(&s, c);
    s.v0 ^= m;
    s.v2 ^= 0xff;
    rounds(&s, d);
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

uint64_t fw_hash_keyed(const unsigned char key[16], int c, int d, const void *data, size_t len)
{
    return siphash(key, c, d, data, len);
}

static unsigned char process_key[16];
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

/* Drawn on first use, so each forked worker draws its own. Without
 * getrandom (a kernel before 3.17, or a seccomp filter), a key no peer can
 * guess from outside is still better than a fixed one. */
static void draw_key(void)
{
    if (getrandom(process_key, sizeof(process_key), GRND_NONBLOCK) == (ssize_t)sizeof(process_key))
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t a = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)getpid();
    uint64_t b = (uint64_t)(uintptr_t)&ts ^ (uint64_t)(uintptr_t)process_key;
    memcpy(process_key, &a, 8);
    memcpy(process_key + 8, &b, 8);
}

uint64_t fw_hash(const void *data, size_t len)
{
    pthread_once(&key_once, draw_key);
    return siphash(process_key, 1, 3, data, len);
}
