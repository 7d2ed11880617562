/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Thread-local error trail. The buffer is fixed-size: a message that does not
 * fit is cut, never allocated, so recording an error cannot itself fail.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char errbuf[512];

int sl_err_set(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	return err;
}

const char *sl_errmsg(void)
{
	return errbuf;
}

void sl_err_clear(void)
{
	errbuf[0] = '\0';
}
