/* SPDX-License-Identifier: Apache-2.0 */
/* The calling process's memory as the kernel counts it (Linux /proc). */
#ifndef SL_COMMON_PROCMEM_H
#define SL_COMMON_PROCMEM_H

#include <stdint.h>

struct sl_procmem {
	uint64_t rss_bytes;      /* resident set now (VmRSS) */
	uint64_t rss_peak_bytes; /* highest resident set so far (VmHWM) */
};

/*
 * Reads /proc/self/status. Resident bytes include pages of DPDK's heap
 * that have been touched (with --no-huge, all of a mempool's objects once
 * populated), shared libraries and the stack. Any thread; a few syscalls.
 * 0, or -errno (-ENOENT: no such lines, not Linux); ret untouched then.
 */
int sl_procmem_read(struct sl_procmem *ret);

#endif
