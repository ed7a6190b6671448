/*
** payload.c -- a writer of the transfer format for C code with no Lua
** state (concurrent_lua.h's cf_payload: a host's C task writing its
** results). It lives with the format it writes (transfer.c describes
** it) but calls no Lua: only scalars, strings and plain tables, none of
** which needs a state to encode.
*/
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "../../concurrent_lua.h"
#include "internal.h"

static void put(cf_payload *w, const void *p, size_t n) {
  if (w->err == 0 && cf_buffer_append(w->out, p, n) != 0) w->err = -ENOMEM;
}

static void put_byte(cf_payload *w, int v) {
  unsigned char c = (unsigned char)v;
  put(w, &c, 1);
}

static size_t varint(unsigned char *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (unsigned char)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (unsigned char)v;
  return n;
}

/* A value starts: count it where it goes; a map's key may not be nil or
** NaN (the decoder refuses those). */
static void value(cf_payload *w, int bad_key) {
  if (w->depth == 0) {
    w->count++;
    return;
  }
  if (w->open[w->depth - 1].map && w->open[w->depth - 1].n % 2 == 0 &&
      bad_key && w->err == 0)
    w->err = -EINVAL;
  w->open[w->depth - 1].n++;
}

void cf_payload_begin(cf_payload *w, cf_buffer *out) {
  memset(w, 0, sizeof *w);
  w->out = out;
  cf_buffer_reset(out);
}

void cf_payload_nil(cf_payload *w) {
  value(w, 1);
  put_byte(w, T_NIL);
}

void cf_payload_boolean(cf_payload *w, int v) {
  value(w, 0);
  put_byte(w, v ? T_TRUE : T_FALSE);
}

void cf_payload_integer(cf_payload *w, int64_t v) {
  unsigned char q[9];
  value(w, 0);
  if (v >= INT32_MIN && v <= INT32_MAX) {
    int32_t s = (int32_t)v;
    q[0] = T_INT32;
    memcpy(q + 1, &s, 4);
    put(w, q, 5);
  } else {
    q[0] = T_INT64;
    memcpy(q + 1, &v, 8);
    put(w, q, 9);
  }
}

void cf_payload_number(cf_payload *w, double v) {
  unsigned char q[9];
  value(w, v != v);
  q[0] = T_FLOAT;
  memcpy(q + 1, &v, 8);
  put(w, q, 9);
}

void cf_payload_string(cf_payload *w, const char *s, size_t len) {
  unsigned char q[11];
  value(w, 0);
  q[0] = T_STR;
  put(w, q, 1 + varint(q + 1, len));
  put(w, s, len);
}

static void open_table(cf_payload *w, int map) {
  unsigned char q[9] = {T_TABLE};
  value(w, 0);
  if (w->depth >= CF_PAYLOAD_DEPTH) {
    if (w->err == 0) w->err = -EINVAL;
    return;
  }
  w->open[w->depth].at = w->out->len;
  w->open[w->depth].n = 0;
  w->open[w->depth].map = map;
  w->depth++;
  put(w, q, 9);                     /* the counts are filled in on close */
}

void cf_payload_array(cf_payload *w) { open_table(w, 0); }
void cf_payload_map(cf_payload *w) { open_table(w, 1); }

void cf_payload_close(cf_payload *w) {
  uint32_t narr = 0, nhash = 0;
  if (w->depth == 0) {
    if (w->err == 0) w->err = -EINVAL;
    return;
  }
  w->depth--;
  if (w->open[w->depth].map) {
    if (w->open[w->depth].n % 2 != 0 && w->err == 0) w->err = -EINVAL;
    nhash = w->open[w->depth].n / 2;
  } else {
    narr = w->open[w->depth].n;
  }
  put_byte(w, 0);                   /* no metatable */
  if (w->err == 0) {
    memcpy(w->out->data + w->open[w->depth].at + 1, &narr, 4);
    memcpy(w->out->data + w->open[w->depth].at + 5, &nhash, 4);
  }
}

/* The count goes first: make room for it and move the values up. */
int cf_payload_end(cf_payload *w) {
  unsigned char q[10];
  size_t n = varint(q, w->count);
  if (w->err == 0 && w->depth != 0) w->err = -EINVAL;
  if (w->err == 0 && cf_buffer_reserve(w->out, n) != 0) w->err = -ENOMEM;
  if (w->err != 0) {
    cf_buffer_reset(w->out);
    return w->err;
  }
  memmove(w->out->data + n, w->out->data, w->out->len);
  memcpy(w->out->data, q, n);
  w->out->len += n;
  return 0;
}
