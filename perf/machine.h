/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What every benchmark here reports about the machine it ran on, and the
 * small file and output helpers they share: one copy instead of one per
 * program.
 */
#ifndef SL_PERF_MACHINE_H
#define SL_PERF_MACHINE_H

#include <stddef.h>
#include <stdio.h>

/* First line of a file without its newline ("" if unreadable). */
void sl_machine_read_line(const char *path, char *buf, size_t cap);

/* /proc/cpuinfo's first "model name", or "unknown". */
void sl_machine_cpu_model(char *buf, size_t cap);

/* uname: system, release, version, machine. */
void sl_machine_kernel(char *buf, size_t cap);

/* Removes the tree at path, but only if path lies inside `inside` (a
 * directory the program made): a guard against deleting anything else. */
void sl_machine_rm_rf(const char *path, const char *inside);

/* s as a JSON string literal. */
void sl_machine_json_str(FILE *f, const char *s);

#endif
