/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Janitor threads (see janitor.h): a few threads take jobs from one list,
 * creations before seals, each kind in the order it was pushed. Jobs of one segment never overlap (the owner
 * pushes its seal only after its files were made and its writes are done);
 * jobs of different segments do, so that 256 shards rolling together do
 * not wait for 256 directory fsyncs one after the other.
 */
#include "janitor.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#define JANITOR_THREADS 4

struct sl_janitor {
	pthread_t thread[JANITOR_THREADS];
	unsigned nthreads;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct sl_job *head, *tail;
	bool stop;
};

static void *run(void *arg)
{
	struct sl_janitor *j = arg;

	pthread_mutex_lock(&j->lock);
	for (;;) {
		struct sl_job *job = j->head;

		if (!job) {
			if (j->stop)
				break;
			pthread_cond_wait(&j->cond, &j->lock);
			continue;
		}
		j->head = job->next;
		if (!j->head)
			j->tail = NULL;
		pthread_mutex_unlock(&j->lock);
		job->fn(job);
		pthread_mutex_lock(&j->lock);
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

int sl_janitor_start(struct sl_janitor **ret)
{
	struct sl_janitor *j = calloc(1, sizeof(*j));
	int r;

	if (!j)
		return -ENOMEM;
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->cond, NULL);
	for (; j->nthreads < JANITOR_THREADS; j->nthreads++) {
		r = pthread_create(&j->thread[j->nthreads], NULL, run, j);
		if (r != 0)
			break;
	}
	if (j->nthreads == 0) {
		pthread_mutex_destroy(&j->lock);
		pthread_cond_destroy(&j->cond);
		free(j);
		return -r;
	}
	*ret = j;
	return 0;
}

void sl_janitor_stop(struct sl_janitor *j)
{
	if (!j)
		return;
	pthread_mutex_lock(&j->lock);
	j->stop = true;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);
	for (unsigned i = 0; i < j->nthreads; i++)
		pthread_join(j->thread[i], NULL);
	pthread_mutex_destroy(&j->lock);
	pthread_cond_destroy(&j->cond);
	free(j);
}

void sl_janitor_push(struct sl_janitor *j, struct sl_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&j->lock);
	if (job->kind == SL_JOB_CREATE) {
		/* Creations go first: a log waits for its files, while a seal
		 * only tidies up after data that is already durable. */
		struct sl_job **p = &j->head;

		while (*p && (*p)->kind == SL_JOB_CREATE)
			p = &(*p)->next;
		job->next = *p;
		*p = job;
		if (!job->next)
			j->tail = job;
	} else if (j->tail) {
		j->tail->next = job;
		j->tail = job;
	} else {
		j->head = j->tail = job;
	}
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
}

int sl_janitor_set_cpus(struct sl_janitor *j, const cpu_set_t *set)
{
	for (unsigned i = 0; i < j->nthreads; i++) {
		int r = pthread_setaffinity_np(j->thread[i], sizeof(*set), set);

		if (r != 0)
			return -r;
	}
	return 0;
}
