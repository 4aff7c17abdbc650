/* lib/hash: SipHash against the reference vectors of its paper, and the
 * process-keyed fw_hash that fcgi/environ groups param names with. */
#include "config.h"

#include "lib/hash.h"
#include "tap.h"

int main(void)
{
    unsigned char key[16], msg[64];
    for (int i = 0; i < 16; i++)
        key[i] = (unsigned char)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (unsigned char)i;
    ok(fw_hash_keyed(key, 2, 4, msg, 0) == 0x726fdb47dd0e0e31ULL,
       "SipHash-2-4 of the empty message (reference vector)");
    ok(fw_hash_keyed(key, 2, 4, msg, 15) == 0xa129ca6149be45e5ULL,
       "SipHash-2-4 of 00..0e: a whole block and a tail (the paper's example)");
    ok(fw_hash("HTTP_X_REP", 10) == fw_hash("HTTP_X_REP", 10), "fw_hash: same key, same hash");
    ok(fw_hash("HTTP_X_REP", 10) != fw_hash("HTTP_X_REQ", 10), "fw_hash: one byte changes it");
    ok(fw_hash("HTTP_X_REP", 9) != fw_hash("HTTP_X_REP", 10), "fw_hash: the length counts");
    return done_testing();
}
