/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lines from a file descriptor with a limit on their length: memory stays
 * bounded whatever the input, and a line over the limit is reported and
 * skipped instead of read.
 */
#ifndef SL_CLI_LINES_H
#define SL_CLI_LINES_H

#include <stddef.h>

struct sl_lines;

int sl_lines_open(int fd, size_t max_line, struct sl_lines **ret);
void sl_lines_close(struct sl_lines *l); /* NULL-safe; does not close fd */

/*
 * The next line, without its '\n' (a last line without one counts too):
 * 1 with *ret_line (valid until the next call) and *ret_len; 0 at the end
 * of input; -EMSGSIZE for a line longer than max_line, which is consumed
 * (*ret_len gets its length); -errno when read() fails (-EINTR when a
 * signal interrupted it: call again to go on).
 */
int sl_lines_next(struct sl_lines *l, const char **ret_line, size_t *ret_len);

#endif
