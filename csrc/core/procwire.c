/*
** procwire.c -- a process pool's wire and its worker process's side
** (procpool.c is the parent's: the pool and its manager thread).
**
** Frames: a u64 body length, a u8 kind and the body, native byte order
** (both ends are the same program on the same machine), on one AF_UNIX
** stream socketpair per worker; sends use MSG_NOSIGNAL, so a dead peer
** is EPIPE, not SIGPIPE. The kinds are in procwire.h.
**
** The worker process, after fork: it resets what it inherited (signals,
** stdio buffers, descriptors but its socket), makes its context with the
** pool's worker_start hook, says HELLO (or HELLO_FAIL with a message) and
** serves TASK frames, one at a time, until EXIT or its socket closes. A
** task runs on a future of the child's own, as in a thread pool; a stop
** signal for it (procstop.c) names its number, counted here.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "future.h"
#include "interrupt.h"
#include "procstop.h"
#include "procwire.h"

/* ---------------------------------------------------------------------- */
/* Frames.                                                                */

static int send_all(int fd, const void *data, size_t n) {
  const char *s = data;
  while (n > 0) {
    ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
    if (k < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    s += k;
    n -= (size_t)k;
  }
  return 0;
}

/* 0, or -EPIPE at end of file, or -errno. */
static int recv_all(int fd, void *data, size_t n) {
  char *s = data;
  while (n > 0) {
    ssize_t k = read(fd, s, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (k == 0) return -EPIPE;
    s += k;
    n -= (size_t)k;
  }
  return 0;
}

/* A frame whose body is a (optional u64 length of a) then a, then b. */
int cf_proc_send_frame(int fd, int kind, int prefix_a, const void *a,
                      size_t alen, const void *b, size_t blen) {
  unsigned char hdr[HDR_SIZE + 8];
  uint64_t len = (prefix_a ? 8 : 0) + alen + blen, al = alen;
  size_t hn = HDR_SIZE;
  int rc;
  memcpy(hdr, &len, 8);
  hdr[8] = (unsigned char)kind;
  if (prefix_a) {
    memcpy(hdr + HDR_SIZE, &al, 8);
    hn += 8;
  }
  rc = send_all(fd, hdr, hn);
  if (rc == 0 && alen) rc = send_all(fd, a, alen);
  if (rc == 0 && blen) rc = send_all(fd, b, blen);
  return rc;
}

/* The next frame into body (reset first): 0, -EPIPE, -ENOMEM, -errno. */
int cf_proc_recv_frame(int fd, int *kind, cf_buffer *body) {
  unsigned char hdr[HDR_SIZE];
  uint64_t len;
  int rc = recv_all(fd, hdr, HDR_SIZE);
  if (rc != 0) return rc;
  memcpy(&len, hdr, 8);
  *kind = hdr[8];
  cf_buffer_reset(body);
  if (len > (uint64_t)SIZE_MAX / 2) return -ENOMEM;
  if (cf_buffer_reserve(body, (size_t)len) != 0) return -ENOMEM;
  rc = recv_all(fd, body->data, (size_t)len);
  if (rc == 0) body->len = (size_t)len;
  return rc;
}

/* ---------------------------------------------------------------------- */
/* The worker process (after fork, in the child).                         */

static void close_from(unsigned lo, unsigned hi) {
  unsigned fd;
  if (lo > hi) return;
#ifdef SYS_close_range
  if (syscall(SYS_close_range, lo, hi, 0) == 0) return;
#endif
  if (hi > 65535) hi = 65535;
  for (fd = lo; fd <= hi; fd++) close((int)fd);
}

/* A fresh start: signals as after exec (caught ones to default, the mask
** empty: the manager thread blocked them all), no stdio data of the
** parent's left to flush twice, no descriptor of the parent's held open
** (other workers' sockets, pidfds, the user's files). And no life after
** the parent's: the manager thread that forked us ends only after reaping
** us, so the parent-death signal fires only if the whole parent process
** dies (killed, say) -- a copy of our socket held by some other child of
** the parent could otherwise keep us waiting for a task. Returns the
** socket. */
static int child_reset(int fd, pid_t parent) {
  sigset_t none;
  int s;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);   /* it died before prctl */
  for (s = 1; s < NSIG; s++) {
    struct sigaction old, dfl;
    if (s == SIGKILL || s == SIGSTOP) continue;
    if (sigaction(s, NULL, &old) != 0) continue;
    if (!(old.sa_flags & SA_SIGINFO) && (old.sa_handler == SIG_DFL ||
                                         old.sa_handler == SIG_IGN))
      continue;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(s, &dfl, NULL);
  }
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, NULL);
  __fpurge(stdout);
  __fpurge(stderr);
  if (fd < 3) {
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (moved < 0) _exit(127);
    fd = moved;
  }
  close_from(3, (unsigned)fd - 1);
  close_from((unsigned)fd + 1, ~0U);
  return fd;
}

static __attribute__((noreturn)) void child_exit(int code) {
  fflush(stdout);
  fflush(stderr);
  _exit(code);
}

/* Run one task as a thread pool would, on a future of the child's own,
** and send its outcome. */
static int child_task(cf_task_fn fn, int fd, void *ctx, cf_buffer *in) {
  const cf_buffer *payload = NULL;
  const char *tb = NULL;
  cf_outcome o;
  int rc;
  cf_future *f = cf_future_new();
  if (f == NULL) child_exit(3);
  cf_future_set_running(f);
  if (cf_future_put_input(f, in) != 0)
    cf_future_finish(f, CF_OUTCOME_NOMEM, NULL, NULL);
  else
    fn(f, ctx, NULL);
  if (!cf_future_done(f)) cf_future_finish(f, CF_OUTCOME_RESULT, NULL, NULL);
  o = cf_future_outcome(f, &payload, &tb);
  /* The next task's number before the outcome goes: a stop signal for
  ** this task arriving later is stale (procstop.c). */
  cf_child_task_seq++;
  cf_stop_signalled = 0;
  fflush(stdout);
  fflush(stderr);
  if (o == CF_OUTCOME_NOMEM) {
    rc = cf_proc_send_frame(fd, M_NOMEM, 1, NULL, 0, NULL, 0);
  } else if (payload->nrefs > 0) {   /* the runner let objects in: never send pointers */
    static const char msg[] = "a task result carried shared objects";
    rc = cf_proc_send_frame(fd, M_ERROR, 1, msg, strlen(msg), NULL, 0);
  } else {
    rc = cf_proc_send_frame(fd, o == CF_OUTCOME_RESULT ? M_RESULT : M_ERROR, 1, tb,
                    tb ? strlen(tb) : 0, payload->data, payload->len);
  }
  cf_release(f);
  return rc;
}

void cf_proc_child_main(int fd, pid_t owner, cf_task_fn fn,
                        const cf_pool_hooks *hooks) {
  char msg[1024] = "";
  void *ctx = NULL;
  cf_buffer in = CF_BUFFER_INIT;
  fd = child_reset(fd, owner);
  cf_child_task_seq = 1;
  cf_stop_signalled = 0;
  if (hooks->worker_start &&
      hooks->worker_start(hooks->ud, &ctx, msg, sizeof msg) != 0) {
    if (!msg[0]) snprintf(msg, sizeof msg, "a worker process failed to start");
    cf_proc_send_frame(fd, M_HELLO_FAIL, 0, msg, strlen(msg), NULL, 0);
    child_exit(1);
  }
  if (cf_proc_send_frame(fd, M_HELLO, 0, NULL, 0, NULL, 0) != 0) child_exit(1);
  for (;;) {
    int kind;
    if (cf_proc_recv_frame(fd, &kind, &in) != 0 || kind != M_TASK) break;
    if (child_task(fn, fd, ctx, &in) != 0) break;
  }
  cf_buffer_free(&in);
  if (hooks->worker_stop) hooks->worker_stop(hooks->ud, ctx);
  child_exit(0);
}
