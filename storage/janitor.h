/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's janitor: a few background threads that do the blocking file
 * work of shard logs, so that neither an append nor a poll waits for it:
 * creating the next segment after a roll (open, fallocate, header,
 * fdatasync, directory fsync, index files) and sealing the previous one
 * (index tail, header rewrite, fdatasync, truncation, close). Errors reach
 * the owner as -errno through the log; the thread-local message of
 * sl_err_set() stays on the janitor's thread.
 *
 * The owner hands a job over once per segment (a short mutex-protected
 * list push: a cold path) and learns the outcome through the job's state,
 * published with a release store that it reads with acquire. A job is owned
 * by the janitor from sl_janitor_push() until it publishes its state.
 */
#ifndef SL_STORAGE_JANITOR_H
#define SL_STORAGE_JANITOR_H

#include <sched.h>

#include <stdatomic.h>
#include <stdint.h>

struct sl_janitor;

enum sl_job_kind {
	SL_JOB_CREATE = 1, /* make the segment files of a wseg */
	SL_JOB_SEAL,       /* seal a wseg and free it */
};

struct sl_job {
	struct sl_job *next;
	enum sl_job_kind kind;
	void (*fn)(struct sl_job *job); /* runs on the janitor thread */
};

int sl_janitor_start(struct sl_janitor **ret);
/* Runs every job still queued, then stops the thread. NULL-safe. */
void sl_janitor_stop(struct sl_janitor *j);

/* Moves the janitor's threads to the CPUs in set (any thread). 0 or -errno. */
int sl_janitor_set_cpus(struct sl_janitor *j, const cpu_set_t *set);
void sl_janitor_push(struct sl_janitor *j, struct sl_job *job);

#endif
