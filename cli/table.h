/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Human tables for sluicectl: a header row and rows of text cells, printed
 * with each column as wide as its widest cell, two spaces apart.
 */
#ifndef SL_CLI_TABLE_H
#define SL_CLI_TABLE_H

#include <stdio.h>

struct sl_table;

/* ncols columns named by headers[0..ncols). */
int sl_table_create(unsigned ncols, const char *const *headers, struct sl_table **ret);
void sl_table_free(struct sl_table *t); /* NULL-safe */

/* Appends a row; cells are copied (NULL prints as "-"). */
int sl_table_add(struct sl_table *t, const char *const *cells);

void sl_table_print(const struct sl_table *t, FILE *out);

#endif
