/* A keyed hash for tables whose keys a peer chooses (param names): SipHash
 * with a key drawn at random once per process, so nobody can craft a set of
 * keys that collide (hash flooding). Not for anything that must be stable
 * across processes or runs. */
#ifndef FW_HASH_H
#define FW_HASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-1-3 of data under the process's random key. */
uint64_t fw_hash(const void *data, size_t len);

/* SipHash with an explicit 16-byte key and c compression and d finalisation
 * rounds: fw_hash is (1, 3); (2, 4) is the reference SipHash, for tests. */
uint64_t fw_hash_keyed(const unsigned char key[16], int c, int d, const void *data, size_t len);

#endif
