/*
** where.c -- the path of a value inside a buffer, for the decoder's rare
** errors (a __reduce rebuilding call that fails): the buffer is walked
** again from the start, without building anything, up to the value's
** offset. The decoder keeps no path while it works: that would cost every
** decode for an error few ever see.
*/
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "transfer.h"
#include "internal.h"

/* The path so far, in a fixed array: no Lua buffer (whose trimming
** differs before 5.4) and nothing to free if pushing the result raises.
** A path longer than that ends with "..." (cut). */
#define WHERE_MAX 2048

typedef struct path {
  char s[WHERE_MAX];
  size_t len;
  int cut;
} path;

static void add(path *o, const char *p, size_t n) {
  if (n > WHERE_MAX - o->len) {
    n = WHERE_MAX - o->len;
    o->cut = 1;
  }
  memcpy(o->s + o->len, p, n);
  o->len += n;
}

static void add_string(path *o, const char *p) { add(o, p, strlen(p)); }

static void add_index(path *o, const char *fmt, int i) {
  char t[32];
  int n = snprintf(t, sizeof t, fmt, i);
  add(o, t, n > 0 ? (size_t)n : 0);
}

/* Back to a mark: what was cut past it is gone. */
static void trim(path *o, size_t mark) {
  o->len = mark;
  if (mark < WHERE_MAX) o->cut = 0;
}

typedef struct walk {
  const unsigned char *p, *end;
  const unsigned char *target;
  path *out;
  int found;
} walk;

static int wbyte(walk *w) {
  return w->p < w->end ? *w->p++ : -1;
}

static uint64_t wvarint(walk *w) {
  uint64_t v = 0;
  int shift = 0, c;
  while ((c = wbyte(w)) >= 0 && shift < 64) {
    v |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) return v;
    shift += 7;
  }
  w->p = w->end;
  return 0;
}

static void wskip(walk *w, uint64_t n) {
  w->p = n <= (uint64_t)(w->end - w->p) ? w->p + n : w->end;
}

static int wvalue(walk *w, int depth);

/* One path segment per level, trimmed back when the walk leaves it. */
static int wtable(walk *w, int depth) {
  uint32_t narr, nhash, i;
  size_t mark;
  if (w->end - w->p < 8) return 0;
  memcpy(&narr, w->p, 4);
  memcpy(&nhash, w->p + 4, 4);
  w->p += 8;
  /* Every value takes a byte at least: counts past the bytes left are
  ** not worth walking (the buffer is malformed). */
  if (narr > (uint64_t)(w->end - w->p) || nhash > (uint64_t)(w->end - w->p)) {
    w->p = w->end;
    return 0;
  }
  for (i = 0; i < narr && w->p < w->end; i++) {
    mark = w->out->len;
    add_index(w->out, "[%d]", (int)i + 1);
    if (wvalue(w, depth + 1)) return 1;
    trim(w->out, mark);
  }
  for (i = 0; i < nhash && w->p < w->end; i++) {
    const unsigned char *k = w->p;
    mark = w->out->len;
    if (wvalue(w, depth + 1)) return 1;   /* the key itself */
    if (k < w->end && (*k == T_STR)) {
      walk kw = {k + 1, w->end, NULL, w->out, 0};
      uint64_t n = wvarint(&kw);
      if (n <= (uint64_t)(w->end - kw.p) && n < 200) {
        int ident = n > 0 && !(kw.p[0] >= '0' && kw.p[0] <= '9');
        uint64_t j;
        for (j = 0; j < n; j++)
          if (!(kw.p[j] == '_' || (kw.p[j] >= '0' && kw.p[j] <= '9') ||
                ((kw.p[j] | 32) >= 'a' && (kw.p[j] | 32) <= 'z')))
            ident = 0;
        add_string(w->out, ident ? "." : "[\"");
        add(w->out, (const char *)kw.p, (size_t)n);
        if (!ident) add_string(w->out, "\"]");
      }
    } else if (k < w->end && *k == T_INT32 && w->end - k >= 5) {
      int32_t v;
      memcpy(&v, k + 1, 4);
      add_index(w->out, "[%d]", (int)v);
    } else if (k < w->end && *k == T_FLOAT && w->end - k >= 9) {
      double v;                      /* 5.1 and LuaJIT: every key a double */
      char t[48];
      int n;
      memcpy(&v, k + 1, 8);
      n = snprintf(t, sizeof t, "[%.14g]", v);
      add(w->out, t, n > 0 ? (size_t)n : 0);
    } else {
      add_string(w->out, "[?]");
    }
    if (wvalue(w, depth + 1)) return 1;
    trim(w->out, mark);
  }
  mark = w->out->len;
  if (wbyte(w) == 1) {
    add_string(w->out, "<metatable>");
    if (wvalue(w, depth + 1)) return 1;
    trim(w->out, mark);
  }
  return 0;
}

static int wupvalues(walk *w, int depth) {
  int nup = wbyte(w), i;
  for (i = 0; i < nup && w->p < w->end; i++) {
    int t = *w->p;
    if (t == T_ENV) {
      w->p++;
    } else if (t == T_UPREF) {
      w->p++;
      wvarint(w);
      wbyte(w);
    } else {
      size_t mark = w->out->len;
      add_string(w->out, "<upvalue>");
      if (wvalue(w, depth + 1)) return 1;
      trim(w->out, mark);
    }
  }
  return 0;
}

/* Walk one value; 1 when it is (or holds) the target. */
static int wvalue(walk *w, int depth) {
  int tag;
  if (w->p == w->target) return w->found = 1;
  if (depth > LCF_MAX_DEPTH + 8 || (tag = wbyte(w)) < 0) {
    w->p = w->end;
    return 0;
  }
  switch (tag & ~T_SHARED) {
    case T_INT32: wskip(w, 4); break;
    case T_INT64: case T_FLOAT: case T_LIGHT: wskip(w, 8); break;
    case T_STR: wskip(w, wvarint(w)); break;
    case T_TABLE: return wtable(w, depth);
    case T_REF: wvarint(w); break;
    case T_LFUNC: case T_LFUNCR:
      wskip(w, 8);
      wskip(w, wvarint(w));
      return wupvalues(w, depth);
    case T_PROTO: case T_PROTOR: return wupvalues(w, depth);
    case T_CFUNC: case T_NAMED:
      wskip(w, wvarint(w));
      wskip(w, wvarint(w));
      break;
    case T_REDUCE: {
      int n = wbyte(w), i;
      size_t mark = w->out->len;
      add_string(w->out, "<__reduce>");
      for (i = 0; i <= n && w->p < w->end; i++)
        if (wvalue(w, depth + 1)) return 1;
      trim(w->out, mark);
      break;
    }
    default: break;                      /* no bytes follow the tag */
  }
  return 0;
}

void lcf_push_where(lua_State *L, const cf_buffer *b, size_t at) {
  path out;
  walk w;
  uint64_t n, i;
  w.p = b->data;
  w.end = b->data + b->len;
  w.target = b->data + at;
  w.out = &out;
  w.found = 0;
  out.len = 0;
  out.cut = 0;
  n = wvarint(&w);
  for (i = 0; i < n && w.p < w.end && !w.found; i++) {
    size_t mark = out.len;
    add_index(&out, "value %d", (int)i + 1);
    if (wvalue(&w, 0)) break;
    trim(&out, mark);
  }
  if (!w.found) {
    trim(&out, 0);
    add_string(&out, "?");
  }
  lua_pushlstring(L, out.s, out.len);
  if (out.cut) {
    lua_pushliteral(L, "...");
    lua_concat(L, 2);
  }
}
