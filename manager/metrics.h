/* /metrics: every pool's series in the OpenMetrics text format (1.0.0,
 * ending with "# EOF"), or in Prometheus's text format 0.0.4, whose
 * counters' families carry their _total. Reads pools through pool.h only;
 * README's Monitoring part lists the series and what each means. */
#ifndef FW_METRICS_H
#define FW_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"
#include "status.h"

struct fw_pool;

void fw_metrics_render(struct fw_buf *out, const struct fw_status_master *m,
                       struct fw_pool *const *pools, size_t n, bool openmetrics);

/* A bound in microseconds as Prometheus writes seconds: "0.005", "1",
 * "2.5" (no exponent, no trailing zeros). */
void fw_metrics_seconds(char *buf, size_t size, uint64_t us);

#endif
