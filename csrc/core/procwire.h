/*
** procwire.h -- a process pool's frames and its worker process's main
** (core/procwire.c). Internal to procpool.c.
*/
#ifndef CF_PROCWIRE_H
#define CF_PROCWIRE_H

#include <stddef.h>
#include <sys/types.h>

#include "../concurrent.h"

/* Parent to child: TASK (the input bytes), EXIT. Child to parent: HELLO
** or HELLO_FAIL (a message) once, then RESULT, ERROR or NOMEM per task:
** u64 traceback length, the traceback, then the payload bytes. */
enum { M_TASK = 1, M_EXIT, M_HELLO, M_HELLO_FAIL, M_RESULT, M_ERROR, M_NOMEM };

#define HDR_SIZE 9   /* u64 length + u8 kind */

/* A frame whose body is a (with prefix_a, after its u64 length), then b:
** 0 or -errno (-EPIPE: the peer is gone). */
int cf_proc_send_frame(int fd, int kind, int prefix_a, const void *a,
                       size_t alen, const void *b, size_t blen);
/* The next frame into body (reset first): 0, -EPIPE, -ENOMEM, -errno. */
int cf_proc_recv_frame(int fd, int *kind, cf_buffer *body);

/* In a child just forked by the manager of a pool made by process
** `owner`: serve tasks on socket fd with fn and the pool's hooks, then
** exit. Never returns. */
void cf_proc_child_main(int fd, pid_t owner, cf_task_fn fn,
                        const cf_pool_hooks *hooks)
  __attribute__((noreturn));

#endif
