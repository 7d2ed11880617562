/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A thread-local error trail for cold paths (configuration, recovery,
 * catalog). A failing function returns -errno as usual and may also leave a
 * sentence saying why; the caller at the top prints sl_errmsg() once.
 * Hot paths never touch this: they count.
 */
#ifndef SL_COMMON_ERR_H
#define SL_COMMON_ERR_H

#include "compiler.h"

/* Records the cause and returns err (a negative errno), so that a caller can
 * write `return sl_err_set(-EINVAL, "segment_bytes=%lu below %lu", v, min);` */
int sl_err_set(int err, const char *fmt, ...) SL_PRINTF(2, 3);

/* The last cause recorded on this thread, or "" if none. */
const char *sl_errmsg(void);

/* Forgets the last cause. */
void sl_err_clear(void);

#endif
