/*
** queue.c -- a FIFO of buffers shared between threads (Python's
** queue.Queue): bounded or not, with task_done/join accounting.
**
** Items are moved, never copied: put takes the caller's buffer, get hands
** it to the caller. The list is singly linked; the node for a put is
** allocated before taking the mutex, so the only allocation failure leaves
** the queue and the item as they were.
**
** Lock order: one mutex per queue, never held with any other. Buffers can
** carry references whose release may destroy other objects, so they are
** only freed (the caller's old `out` contents) after the mutex is dropped.
*/
#include <errno.h>
#include <stdlib.h>

#include "object.h"
#include "interrupt.h"

typedef struct qnode {
  struct qnode *next;
  cf_buffer item;
} qnode;

struct cf_queue {
  cf_object hdr;
  pthread_mutex_t m;
  pthread_cond_t not_empty;   /* getters sleep here */
  pthread_cond_t not_full;    /* putters sleep here */
  pthread_cond_t all_done;    /* join sleeps here */
  qnode *head, *tail;
  long size, maxsize;         /* maxsize <= 0: unbounded */
  long unfinished;            /* put and not yet task_done */
};

#define IS_FULL(q)  ((q)->maxsize > 0 && (q)->size >= (q)->maxsize)

static void queue_destroy(void *o) {
  cf_queue *q = o;
  qnode *n, *next;
  for (n = q->head; n != NULL; n = next) {
    next = n->next;
    cf_buffer_free(&n->item);
    free(n);
  }
  pthread_cond_destroy(&q->not_empty);
  pthread_cond_destroy(&q->not_full);
  pthread_cond_destroy(&q->all_done);
  pthread_mutex_destroy(&q->m);
  free(q);
}

static const cf_kind queue_kind = {"queue", queue_destroy};

cf_queue *cf_queue_new(long maxsize) {
  cf_queue *q = malloc(sizeof *q);
  if (q == NULL) return NULL;
  cf_object_init(q, &queue_kind);
  cf_mutex_init(&q->m);
  cf_cond_init(&q->not_empty);
  cf_cond_init(&q->not_full);
  cf_cond_init(&q->all_done);
  q->head = q->tail = NULL;
  q->size = 0;
  q->maxsize = maxsize > 0 ? maxsize : 0;
  q->unfinished = 0;
  return q;
}

/* A putter that times out re-checks for room, as every waiter here does:
** a signal that reached it at that moment is used, not lost. */
int cf_queue_put(cf_queue *q, cf_buffer *item, int block, double timeout) {
  cf_deadline dl;
  qnode *n = malloc(sizeof *n);
  int rc = 0;
  if (n == NULL) return -ENOMEM;
  n->next = NULL;
  cf_mutex_lock(&q->m);
  if (IS_FULL(q) && block) {
    cf_deadline_set(&dl, timeout);
    while (IS_FULL(q) && rc == 0)
      rc = cf_cond_wait_obj(q, &q->not_full, &q->m, &dl);
  }
  if (IS_FULL(q)) rc = CF_ETIMEDOUT;
  else {
    rc = 0;
    n->item = *item;          /* the move: the caller's buffer is ours */
    cf_buffer_init(item);
    if (q->tail) q->tail->next = n; else q->head = n;
    q->tail = n;
    q->size++;
    q->unfinished++;
    n = NULL;
    pthread_cond_signal(&q->not_empty);
  }
  cf_mutex_unlock(&q->m);
  free(n);
  return rc;
}

int cf_queue_get(cf_queue *q, cf_buffer *out, int block, double timeout) {
  cf_deadline dl;
  qnode *n = NULL;
  int rc = 0;
  cf_mutex_lock(&q->m);
  if (q->size == 0 && block) {
    cf_deadline_set(&dl, timeout);
    while (q->size == 0 && rc == 0)
      rc = cf_cond_wait_obj(q, &q->not_empty, &q->m, &dl);
  }
  if (q->size == 0) rc = CF_ETIMEDOUT;
  else {
    rc = 0;
    n = q->head;
    q->head = n->next;
    if (q->head == NULL) q->tail = NULL;
    q->size--;
    pthread_cond_signal(&q->not_full);
  }
  cf_mutex_unlock(&q->m);
  if (n != NULL) {
    cf_buffer_move(out, &n->item);   /* frees out's old contents */
    free(n);
  }
  return rc;
}

long cf_queue_qsize(cf_queue *q) {
  long v;
  cf_mutex_lock(&q->m);
  v = q->size;
  cf_mutex_unlock(&q->m);
  return v;
}

long cf_queue_maxsize(cf_queue *q) { return q->maxsize; }  /* const */

int cf_queue_empty(cf_queue *q) { return cf_queue_qsize(q) == 0; }

int cf_queue_full(cf_queue *q) {
  int v;
  cf_mutex_lock(&q->m);
  v = IS_FULL(q);
  cf_mutex_unlock(&q->m);
  return v;
}

int cf_queue_task_done(cf_queue *q) {
  int rc = 0;
  cf_mutex_lock(&q->m);
  if (q->unfinished <= 0) rc = CF_ESTATE;
  else if (--q->unfinished == 0) pthread_cond_broadcast(&q->all_done);
  cf_mutex_unlock(&q->m);
  return rc;
}

int cf_queue_join(cf_queue *q, double timeout) {
  cf_deadline dl;
  int rc = 0;
  cf_mutex_lock(&q->m);
  if (q->unfinished > 0) {
    cf_deadline_set(&dl, timeout);
    while (q->unfinished > 0 && rc == 0)
      rc = cf_cond_wait_obj(q, &q->all_done, &q->m, &dl);
  }
  rc = q->unfinished > 0 ? CF_ETIMEDOUT : 0;
  cf_mutex_unlock(&q->m);
  return rc;
}
