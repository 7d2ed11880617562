/* SPDX-License-Identifier: Apache-2.0 */
/* Machine facts and shared helpers for the benchmarks (see machine.h). */
#include "machine.h"

#include <ftw.h>
#include <string.h>
#include <sys/utsname.h>

void sl_machine_read_line(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "re");

	buf[0] = '\0';
	if (!f)
		return;
	if (fgets(buf, (int)cap, f))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

void sl_machine_cpu_model(char *buf, size_t cap)
{
	char line[1024];
	FILE *f = fopen("/proc/cpuinfo", "re");

	snprintf(buf, cap, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');

		if (strncmp(line, "model name", 10) == 0 && c) {
			c += 1 + strspn(c + 1, " \t");
			c[strcspn(c, "\n")] = '\0';
			snprintf(buf, cap, "%s", c);
			break;
		}
	}
	fclose(f);
}

void sl_machine_kernel(char *buf, size_t cap)
{
	struct utsname u;

	if (uname(&u) == 0)
		snprintf(buf, cap, "%s %s %s %s", u.sysname, u.release, u.version, u.machine);
	else
		snprintf(buf, cap, "unknown");
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void sl_machine_rm_rf(const char *path, const char *inside)
{
	size_t n = strlen(inside);

	if (n == 0 || strncmp(path, inside, n) != 0)
		return;
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void sl_machine_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}
