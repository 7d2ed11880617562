/* SPDX-License-Identifier: Apache-2.0 */
/* File-system helpers for cold paths. */
#ifndef SL_COMMON_FS_H
#define SL_COMMON_FS_H

/* Creates path and its missing parents (mode 0755). 0 or -errno. */
int sl_mkdir_p(const char *path);

/* Removes path and everything under it (symlinks not followed). A missing
 * path is fine. 0 or -errno. */
int sl_rm_rf(const char *path);

#endif
