/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tables: rows are kept until printed, because a column's width is that of
 * its widest cell. A row's last non-empty cell is not padded, so no line
 * ends in spaces.
 */
#include "table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct sl_table {
	unsigned ncols;
	size_t nrows, cap; /* rows, header included */
	char **cells;      /* nrows * ncols */
	size_t *width;
};

void sl_table_free(struct sl_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; t->cells && i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->width);
	free(t);
}

int sl_table_add(struct sl_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **c = realloc(t->cells, cap * t->ncols * sizeof(*c));

		if (!c)
			return -ENOMEM;
		t->cells = c;
		t->cap = cap;
	}
	for (unsigned j = 0; j < t->ncols; j++) {
		char *s = strdup(cells[j] ? cells[j] : "-");

		if (!s) {
			while (j--)
				free(t->cells[t->nrows * t->ncols + j]);
			return -ENOMEM;
		}
		t->cells[t->nrows * t->ncols + j] = s;
		if (strlen(s) > t->width[j])
			t->width[j] = strlen(s);
	}
	t->nrows++;
	return 0;
}

int sl_table_create(unsigned ncols, const char *const *headers, struct sl_table **ret)
{
	struct sl_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->ncols = ncols;
	t->width = calloc(ncols, sizeof(*t->width));
	if (!t->width || sl_table_add(t, headers) < 0) {
		sl_table_free(t);
		return -ENOMEM;
	}
	*ret = t;
	return 0;
}

void sl_table_print(const struct sl_table *t, FILE *out)
{
	for (size_t i = 0; i < t->nrows; i++) {
		char *const *row = &t->cells[i * t->ncols];
		unsigned last = t->ncols - 1;

		/* Empty cells at the end are not padded either. */
		while (last > 0 && !row[last][0])
			last--;
		for (unsigned j = 0; j < last; j++)
			fprintf(out, "%-*s  ", (int)t->width[j], row[j]);
		fprintf(out, "%s\n", row[last]);
	}
}
