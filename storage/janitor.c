/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Janitor thread (see janitor.h). Jobs run in the order they were pushed,
 * one at a time, so a segment is always created before it is sealed and
 * sealed before it is deleted.
 */
#include "janitor.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct sl_janitor {
	pthread_t thread;
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
	r = pthread_create(&j->thread, NULL, run, j);
	if (r != 0) {
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
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
	pthread_join(j->thread, NULL);
	pthread_mutex_destroy(&j->lock);
	pthread_cond_destroy(&j->cond);
	free(j);
}

void sl_janitor_push(struct sl_janitor *j, struct sl_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&j->lock);
	if (j->tail)
		j->tail->next = job;
	else
		j->head = job;
	j->tail = job;
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
}
