/* Optimal string alignment distance over short ASCII names: settings are
 * at most a few dozen characters, so the O(n*m) table is tiny. */
#include <config.h>

#include "conf/suggest.h"

#include <ctype.h>
#include <string.h>

#define MAX_NAME 48

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

static size_t distance(const char *a, size_t n, const char *b, size_t m)
{
    size_t d[MAX_NAME + 1][MAX_NAME + 1];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            d[i][j] = min3(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < d[i][j])
                d[i][j] = d[i - 2][j - 2] + 1;
        }
    }
    return d[n][m];
}

const char *fw_conf_suggest(const char *word, const char *const *candidates, size_t n)
{
    size_t len = strlen(word), best_d = (size_t)-1;
    const char *best = NULL;
    if (len == 0 || len > MAX_NAME)
        return NULL;
    /* One edit in four letters, at most three: "thread" -> "threads", but
     * "log" is not a typo of "env". */
    size_t limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
    for (size_t i = 0; i < n; i++) {
        size_t clen = strlen(candidates[i]);
        if (clen > MAX_NAME)
            continue;
        size_t d = distance(word, len, candidates[i], clen);
        if (d <= limit && d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best;
}
