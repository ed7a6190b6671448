/*
** trace.h -- task timelines (concurrent.trace): the pools report when a
** task is submitted, started and ended; trace.c keeps those times in one
** process-wide recording and writes it as Chrome trace-event JSON.
**
** Off, it costs one relaxed atomic load at each reporting point: the
** pools test CF_TRACING() and call nothing else.
*/
#ifndef CF_TRACE_H
#define CF_TRACE_H

#include <stddef.h>

#include "future.h"

/* Hidden: a pool reads it with one load, not through the GOT. */
extern atomic_int cf_trace_flag __attribute__((visibility("hidden")));
#define CF_TRACING() \
  atomic_load_explicit(&cf_trace_flag, memory_order_relaxed)

enum { CF_TRACE_THREADS = 1, CF_TRACE_PROCESSES = 2 };

/* f was queued on an executor of that kind; *exec_id is the executor's
** trace id (0 until its first traced task: trace.c numbers it). */
void cf_trace_submit(unsigned *exec_id, int kind, const cf_future *f);
/* The next cf_trace_submit from the calling thread is the map chunk of
** items first .. first + count - 1 (count 0: clears it). */
void cf_trace_next_items(long first, long count);
/* f started on a worker: slot -1 is the calling thread (a thread pool's
** worker), otherwise a process pool's worker slot and its pid. */
void cf_trace_start(const cf_future *f, int slot, int pid);
/* f ended (finished, failed, cancelled, broken: read from f, which the
** caller holds). Unknown futures are ignored. */
void cf_trace_end(cf_future *f);

/* Start recording into path (opened now, written by cf_trace_stop), at
** most max_events tasks. 0, CF_ESTATE if already recording, -errno if the
** file cannot be opened (nothing started). */
int cf_trace_start_recording(const char *path, size_t max_events);
/* Stop and write the JSON: 0, CF_ESTATE if not recording, -errno if the
** write failed (the recording is dropped either way). *events counts the
** tasks written, *dropped those not recorded because the buffer was full. */
int cf_trace_stop_recording(size_t *events, size_t *dropped);
/* Recording now (in this process)? */
int cf_trace_recording(void);

#endif
