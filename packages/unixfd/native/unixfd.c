/*
 * unixfd: AF_UNIX stream sockets with SCM_RIGHTS fd passing and SO_PEERCRED,
 * as a plain N-API addon (Linux only).
 *
 * Design
 * ------
 * The C side is deliberately small. It offers
 *   - synchronous syscalls wrapped as functions that return a value or a
 *     negative errno (connect, listen, send, shutdown, peercred, pipe, ...);
 *     the TypeScript wrapper turns negative errnos into Error objects;
 *   - one class, Handle, that watches one fd with a libuv uv_poll_t on the
 *     main loop and reports to a single JS callback cb(kind, a, b):
 *        EV_DATA     (Buffer, fds[])  one recvmsg() result (stream socket)
 *        EV_WRITABLE ()               fd became writable (only when armed)
 *        EV_EOF      ()               recvmsg() returned 0
 *        EV_ERROR    (errno)          read/accept/poll error
 *        EV_CONN     (fd)             accept4() result (listening socket); JS
 *                                     takes it by constructing a Handle on it
 *                                     during the callback, else C closes it
 *        EV_CLOSED   ()               the poll handle is closed and so is fd
 *
 * Ownership and lifetime rules (the point of this file):
 *   - A Handle owns its fd from construction on. The fd is closed only in
 *     on_close(), i.e. after libuv finished closing the poll handle, so
 *     epoll never watches a closed (and possibly reused) fd number.
 *   - While the handle is not closed, a strong napi_ref keeps the JS object
 *     (and thereby the C struct) alive. The struct is freed by whichever of
 *     on_close() / the wrap finalizer runs last.
 *   - Every JS callback may call close() or setEvents(); the read/accept loops
 *     re-check `closing` and the armed events after each callback, and
 *     uv_close() only frees on the next loop turn, so calling close() from a
 *     'data' handler cannot cause a use-after-free.
 *   - Everything runs on the loop thread of the env that created it; per-env
 *     scratch buffers live in napi instance data (worker-safe, no statics).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#define MAX_FDS 253          /* SCM_MAX_FD in the kernel */
#define READ_CHUNK 65536     /* bytes per recvmsg() */
#define READS_PER_CB 16      /* fairness: at most 16 x 64 KiB per poll callback */
#define ACCEPTS_PER_CB 16
#define MAX_IOV 64

enum { EV_DATA = 1, EV_WRITABLE, EV_EOF, EV_ERROR, EV_CONN, EV_CLOSED };

/* Per-env scratch state (instance data). */
typedef struct {
  char rbuf[READ_CHUNK];
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
  } cbuf;
  int recv_fd_cap; /* fds the receive cmsg buffer has room for; tests lower it */
  int accepted_fd;  /* fd being handed to JS by do_accept(), or -1 */
  bool adopted;     /* a Handle took accepted_fd: it owns it now */
} addon_t;

typedef struct {
  uv_poll_t poll;  /* poll.data points back to this struct */
  napi_env env;
  addon_t *addon;
  napi_ref self;   /* strong while not closed */
  napi_ref cb;
  napi_async_context actx;
  int fd;
  bool listening;
  int events;      /* UV_READABLE|UV_WRITABLE currently armed */
  bool closing;    /* uv_close() called */
  bool closed;     /* on_close() ran (or the handle never got going) */
  bool finalized;  /* JS object was collected */
  bool no_js;      /* env is going away: never call into JS again */
} sock_t;

/* ---------------------------------------------------------------- helpers */

#define NAPI_OK(call)                                                   \
  do {                                                                  \
    if ((call) != napi_ok) {                                            \
      napi_throw_error(env, NULL, "unixfd: N-API call failed: " #call); \
      return NULL;                                                      \
    }                                                                   \
  } while (0)

static napi_value num(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

static int arg_int(napi_env env, napi_value v, int32_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return -1;
  return napi_get_value_int32(env, v, out) == napi_ok ? 0 : -1;
}

/* Copies a JS string path into a sockaddr_un. Returns 0 or -errno. */
static int arg_path(napi_env env, napi_value v, struct sockaddr_un *sa) {
  size_t len;
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return -EINVAL;
  if (len == 0) return -ENOENT;
  if (len >= sizeof sa->sun_path) return -ENAMETOOLONG;
  napi_get_value_string_utf8(env, v, sa->sun_path, sizeof sa->sun_path, &len);
  if (strlen(sa->sun_path) != len) return -EINVAL; /* embedded NUL */
  return 0;
}

static void close_all(const int *fds, int n) {
  for (int i = 0; i < n; i++) close(fds[i]);
}

/* Calls the JS callback with argv. The caller holds a handle scope.
 * Returns false only when JS did not run at all (e.g. a worker is being
 * terminated): the caller then still owns any fds it meant to hand over.
 * The JS side catches listener exceptions itself; anything that still gets
 * here is re-raised as an uncaught exception, as Node does for its own I/O. */
static bool call_js(sock_t *s, size_t argc, napi_value *argv) {
  napi_env env = s->env;
  napi_value self, fn, ignored;
  bool pending = false;
  if (s->no_js) return false;
  if (napi_get_reference_value(env, s->self, &self) != napi_ok ||
      napi_get_reference_value(env, s->cb, &fn) != napi_ok || self == NULL || fn == NULL)
    return false;
  if (napi_make_callback(env, s->actx, self, fn, argc, argv, &ignored) == napi_ok) return true;
  napi_is_exception_pending(env, &pending);
  if (pending) { /* JS ran and threw: it may have taken the fds, so do not touch them */
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  return pending;
}

static bool emit_int(sock_t *s, int kind, int v, bool with_v) {
  napi_handle_scope scope;
  bool ran;
  if (s->no_js || napi_open_handle_scope(s->env, &scope) != napi_ok) return false;
  napi_value argv[2] = {num(s->env, kind), num(s->env, v)};
  ran = call_js(s, with_v ? 2 : 1, argv);
  napi_close_handle_scope(s->env, scope);
  return ran;
}

/* Hands n bytes plus nfds received fds to JS, which owns the fds once its
 * callback ran; if we cannot build the arguments or JS cannot run, we close
 * them here. */
static void emit_data(sock_t *s, const char *data, size_t n, const int *fds, int nfds) {
  napi_env env = s->env;
  napi_handle_scope scope;
  napi_value argv[3], buf, arr;
  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    close_all(fds, nfds);
    return;
  }
  if (napi_create_buffer_copy(env, n, data, NULL, &buf) != napi_ok ||
      napi_create_array_with_length(env, nfds, &arr) != napi_ok) {
    close_all(fds, nfds);
    napi_close_handle_scope(env, scope);
    return;
  }
  for (int i = 0; i < nfds; i++) napi_set_element(env, arr, i, num(env, fds[i]));
  argv[0] = num(env, EV_DATA);
  argv[1] = buf;
  argv[2] = arr;
  if (!call_js(s, 3, argv)) close_all(fds, nfds);
  napi_close_handle_scope(env, scope);
}

/* Collects SCM_RIGHTS fds from all cmsgs of msg into fds[MAX_FDS].
 * On MSG_CTRUNC (cmsg buffer too small, or our fd table full) the kernel
 * already dropped the fds that did not fit: we close the ones that did
 * arrive and report none, so a misbehaving peer cannot make us leak. */
static int collect_fds(struct msghdr *msg, int *fds) {
  int n = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int cnt = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < cnt; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (n < MAX_FDS) fds[n++] = fd;
      else close(fd); /* cannot happen with our buffer size; stay safe */
    }
  }
  if (msg->msg_flags & MSG_CTRUNC) {
    close_all(fds, n);
    n = 0;
  }
  return n;
}

/* ------------------------------------------------------------ poll events */

static void do_read(sock_t *s) {
  addon_t *a = s->addon;
  int fds[MAX_FDS];
  for (int i = 0; i < READS_PER_CB && !s->closing && (s->events & UV_READABLE); i++) {
    struct iovec iov = {a->rbuf, READ_CHUNK};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (a->recv_fd_cap > 0) {
      msg.msg_control = a->cbuf.buf;
      msg.msg_controllen = CMSG_SPACE(a->recv_fd_cap * sizeof(int));
    }
    ssize_t n = recvmsg(s->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) emit_int(s, EV_ERROR, errno, true);
      return;
    }
    int nfds = collect_fds(&msg, fds);
    if (n == 0) { /* EOF: fds cannot ride on zero bytes, but never leak */
      close_all(fds, nfds);
      emit_int(s, EV_EOF, 0, false);
      return;
    }
    emit_data(s, a->rbuf, (size_t)n, fds, nfds);
  }
}

static void do_accept(sock_t *s) {
  for (int i = 0; i < ACCEPTS_PER_CB && !s->closing && (s->events & UV_READABLE); i++) {
    int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) emit_int(s, EV_ERROR, errno, true);
      return;
    }
    /* Ownership passes to JS exactly when a Handle is constructed for fd
     * (handle_new sets `adopted`). If JS declines, fails, or never runs
     * (worker terminated), the fd is still ours and is closed here. */
    s->addon->accepted_fd = fd;
    s->addon->adopted = false;
    emit_int(s, EV_CONN, fd, true);
    if (!s->addon->adopted) close(fd);
    s->addon->accepted_fd = -1;
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  sock_t *s = h->data;
  if (s->closing) return;
  if (status < 0) {
    /* libuv saw POLLERR and has already stopped the handle. */
    int err = 0;
    socklen_t len = sizeof err;
    s->events = 0;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err == 0) err = EIO;
    emit_int(s, EV_ERROR, err, true);
    return;
  }
  if ((events & UV_WRITABLE) && (s->events & UV_WRITABLE)) {
    emit_int(s, EV_WRITABLE, 0, false);
    if (s->closing) return;
  }
  if (events & UV_READABLE) {
    if (s->listening) do_accept(s);
    else do_read(s);
  }
}

/* -------------------------------------------------------- handle lifetime */

static void cleanup_hook(void *arg);

static void on_close(uv_handle_t *h) {
  sock_t *s = h->data;
  if (s->fd >= 0) close(s->fd); /* only now: the poll no longer references it */
  s->fd = -1;
  s->closed = true;
  if (!s->no_js) {
    napi_env env = s->env;
    napi_remove_env_cleanup_hook(env, cleanup_hook, s);
    emit_int(s, EV_CLOSED, 0, false);
    napi_async_destroy(env, s->actx);
    napi_delete_reference(env, s->cb);
    napi_delete_reference(env, s->self); /* object may now be collected */
    s->no_js = true;
  }
  if (s->finalized) free(s);
}

static void start_close(sock_t *s) {
  if (s->closing) return;
  s->closing = true;
  s->events = 0;
  uv_close((uv_handle_t *)&s->poll, on_close);
}

/* Env teardown (process or worker exit) with the handle still open.
 * The loop may never run again, so on_close() may never come: close the fd
 * now. That is safe because uv_close() has already stopped the poll, which
 * removed the fd from epoll (uv__poll_stop -> uv__platform_invalidate_fd). */
static void cleanup_hook(void *arg) {
  sock_t *s = arg;
  s->no_js = true;
  start_close(s);
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
}

static void finalize(napi_env env, void *data, void *hint) {
  sock_t *s = data;
  s->finalized = true;
  if (s->closed) {
    free(s);
  } else if (!s->closing) {
    /* Not reachable while the env lives (we hold a strong ref until closed);
     * kept so that no path can free a struct libuv still knows about. */
    napi_remove_env_cleanup_hook(env, cleanup_hook, s);
    s->no_js = true;
    start_close(s);
  } /* else: on_close() frees it */
}

static sock_t *unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  void *p = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok ||
      napi_unwrap(env, self, &p) != napi_ok || p == NULL) {
    napi_throw_error(env, NULL, "unixfd: not a Handle");
    return NULL;
  }
  return p;
}

/* new Handle(fd, listening, cb). On throw the caller still owns fd. */
static napi_value handle_new(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], self, name;
  napi_valuetype t;
  int32_t fd;
  bool listening;
  uv_loop_t *loop;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  if (argc < 3 || arg_int(env, argv[0], &fd) || fd < 0 ||
      napi_get_value_bool(env, argv[1], &listening) != napi_ok ||
      napi_typeof(env, argv[2], &t) != napi_ok || t != napi_function) {
    napi_throw_type_error(env, NULL, "Handle(fd: number, listening: boolean, cb: function)");
    return NULL;
  }
  NAPI_OK(napi_get_uv_event_loop(env, &loop));
  sock_t *s = calloc(1, sizeof *s);
  if (s == NULL) {
    napi_throw_error(env, "ENOMEM", "unixfd: out of memory");
    return NULL;
  }
  s->env = env;
  s->fd = fd;
  s->listening = listening;
  s->closed = true; /* until the poll handle exists */
  s->no_js = true;
  NAPI_OK(napi_get_instance_data(env, (void **)&s->addon));
  if (napi_wrap(env, self, s, finalize, NULL, NULL) != napi_ok) {
    free(s);
    napi_throw_error(env, NULL, "unixfd: napi_wrap failed");
    return NULL;
  }
  /* From here on the finalizer frees s. */
  NAPI_OK(napi_create_string_utf8(env, "UnixFdHandle", NAPI_AUTO_LENGTH, &name));
  NAPI_OK(napi_async_init(env, self, name, &s->actx));
  NAPI_OK(napi_create_reference(env, argv[2], 1, &s->cb));
  NAPI_OK(napi_create_reference(env, self, 1, &s->self));
  int r = uv_poll_init(loop, &s->poll, fd); /* also sets O_NONBLOCK */
  if (r != 0) {
    napi_async_destroy(env, s->actx);
    napi_delete_reference(env, s->cb);
    napi_delete_reference(env, s->self);
    s->fd = -1; /* not ours after all */
    napi_value err, code, msg;
    napi_create_string_utf8(env, uv_err_name(r), NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, uv_strerror(r), NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, code, msg, &err);
    napi_throw(env, err);
    return NULL;
  }
  s->poll.data = s;
  s->closed = false;
  s->no_js = false;
  napi_add_env_cleanup_hook(env, cleanup_hook, s);
  if (fd == s->addon->accepted_fd) s->addon->adopted = true;
  return self;
}

/* handle.setEvents(mask): arm UV_READABLE (1) / UV_WRITABLE (2). Returns 0 or -errno. */
static napi_value handle_set_events(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t mask;
  sock_t *s = unwrap(env, info, &argc, argv);
  if (s == NULL) return NULL;
  if (argc < 1 || arg_int(env, argv[0], &mask)) {
    napi_throw_type_error(env, NULL, "setEvents(mask: number)");
    return NULL;
  }
  mask &= UV_READABLE | UV_WRITABLE;
  if (s->closing || mask == s->events) return num(env, 0);
  int r = mask ? uv_poll_start(&s->poll, mask, on_poll) : uv_poll_stop(&s->poll);
  if (r == 0) s->events = mask;
  return num(env, r); /* libuv errors are negative errnos on unix */
}

/* handle.close(): idempotent; EV_CLOSED follows asynchronously. */
static napi_value handle_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  sock_t *s = unwrap(env, info, &argc, NULL);
  if (s == NULL) return NULL;
  start_close(s);
  return NULL;
}

/* --------------------------------------------------------- plain syscalls */

/* connect(path) -> fd | -errno. Non-blocking; on Linux an AF_UNIX connect
 * completes synchronously or fails (EAGAIN when the backlog is full). */
static napi_value fn_connect(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  struct sockaddr_un sa;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int r = argc < 1 ? -EINVAL : arg_path(env, argv[0], &sa);
  if (r < 0) return num(env, r);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return num(env, -errno);
  while ((r = connect(fd, (struct sockaddr *)&sa, sizeof sa)) < 0 && errno == EINTR) {}
  if (r < 0) {
    r = -errno;
    close(fd);
    return num(env, r);
  }
  return num(env, fd);
}

/* listen(path, backlog, mode) -> fd | -errno. mode < 0: leave as umask made
 * it. chmod happens before listen(), so nobody can connect in between. */
static napi_value fn_listen(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  struct sockaddr_un sa;
  int32_t backlog, mode;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3 || arg_int(env, argv[1], &backlog) || arg_int(env, argv[2], &mode))
    return num(env, -EINVAL);
  int r = arg_path(env, argv[0], &sa);
  if (r < 0) return num(env, r);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return num(env, -errno);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    r = -errno;
    close(fd);
    return num(env, r);
  }
  if ((mode >= 0 && chmod(sa.sun_path, (mode_t)mode) < 0) || listen(fd, backlog) < 0) {
    r = -errno;
    unlink(sa.sun_path);
    close(fd);
    return num(env, r);
  }
  return num(env, fd);
}

/* send(fd, buffers[], offset, fds|null) -> bytes written | -errno.
 * One sendmsg(): the iovec covers buffers[0] from offset, then the others;
 * fds (<= 253) go in one SCM_RIGHTS cmsg and so travel with the first byte. */
static napi_value fn_send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t fd, offset;
  uint32_t nbufs, nfds = 0;
  bool is_arr;
  struct iovec iov[MAX_IOV];
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
  } cbuf;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4 || arg_int(env, argv[0], &fd) || arg_int(env, argv[2], &offset) || offset < 0 ||
      napi_is_array(env, argv[1], &is_arr) != napi_ok || !is_arr ||
      napi_get_array_length(env, argv[1], &nbufs) != napi_ok || nbufs == 0) {
    napi_throw_type_error(env, NULL, "send(fd, buffers[], offset, fds|null)");
    return NULL;
  }
  if (nbufs > MAX_IOV) nbufs = MAX_IOV;
  for (uint32_t i = 0; i < nbufs; i++) {
    napi_value b;
    void *data;
    size_t len;
    if (napi_get_element(env, argv[1], i, &b) != napi_ok ||
        napi_get_buffer_info(env, b, &data, &len) != napi_ok) {
      napi_throw_type_error(env, NULL, "send: buffers must be Buffers");
      return NULL;
    }
    if (i == 0) {
      if ((size_t)offset > len) offset = (int32_t)len;
      data = (char *)data + offset;
      len -= (size_t)offset;
    }
    iov[i].iov_base = data;
    iov[i].iov_len = len;
  }
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = iov;
  msg.msg_iovlen = nbufs;
  if (napi_is_array(env, argv[3], &is_arr) == napi_ok && is_arr) {
    napi_get_array_length(env, argv[3], &nfds);
    if (nfds > MAX_FDS) return num(env, -ETOOMANYREFS);
  }
  if (nfds > 0) {
    memset(&cbuf, 0, sizeof cbuf);
    msg.msg_control = cbuf.buf;
    msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    for (uint32_t i = 0; i < nfds; i++) {
      napi_value v;
      int32_t f;
      if (napi_get_element(env, argv[3], i, &v) != napi_ok || arg_int(env, v, &f))
        return num(env, -EBADF);
      memcpy(CMSG_DATA(c) + i * sizeof(int), &f, sizeof f);
    }
  }
  ssize_t n;
  while ((n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT)) < 0 && errno == EINTR) {}
  return num(env, n < 0 ? -errno : (double)n);
}

/* peercred(fd) -> [pid, uid, gid] | -errno */
static napi_value fn_peercred(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], arr;
  int32_t fd;
  struct ucred uc;
  socklen_t len = sizeof uc;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || arg_int(env, argv[0], &fd)) return num(env, -EBADF);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0) return num(env, -errno);
  NAPI_OK(napi_create_array_with_length(env, 3, &arr));
  napi_set_element(env, arr, 0, num(env, uc.pid));
  napi_set_element(env, arr, 1, num(env, uc.uid));
  napi_set_element(env, arr, 2, num(env, uc.gid));
  return arr;
}

/* shutdown(fd) -> 0 | -errno (SHUT_WR) */
static napi_value fn_shutdown(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || arg_int(env, argv[0], &fd)) return num(env, -EBADF);
  return num(env, shutdown(fd, SHUT_WR) < 0 ? -errno : 0);
}

/* close(fd): never throws; Linux releases the fd even on EINTR/EIO. */
static napi_value fn_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc >= 1 && arg_int(env, argv[0], &fd) == 0 && fd >= 0) close(fd);
  return NULL;
}

/* fdType(fd) -> "socket" | "fifo" | ... | "closed" */
static napi_value fn_fdtype(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  int32_t fd;
  struct stat st;
  const char *t = "unknown";
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || arg_int(env, argv[0], &fd) || fd < 0 || fstat(fd, &st) < 0) {
    t = "closed";
  } else {
    switch (st.st_mode & S_IFMT) {
      case S_IFSOCK: t = "socket"; break;
      case S_IFIFO: t = "fifo"; break;
      case S_IFREG: t = "file"; break;
      case S_IFCHR: t = "chr"; break;
      case S_IFDIR: t = "dir"; break;
      case S_IFBLK: t = "blk"; break;
      case S_IFLNK: t = "link"; break;
    }
  }
  NAPI_OK(napi_create_string_utf8(env, t, NAPI_AUTO_LENGTH, &r));
  return r;
}

static napi_value pair_result(napi_env env, int r, int *fds) {
  napi_value arr;
  if (r < 0) return num(env, -errno);
  NAPI_OK(napi_create_array_with_length(env, 2, &arr));
  napi_set_element(env, arr, 0, num(env, fds[0]));
  napi_set_element(env, arr, 1, num(env, fds[1]));
  return arr;
}

static napi_value fn_pipe(napi_env env, napi_callback_info info) {
  int fds[2];
  return pair_result(env, pipe2(fds, O_CLOEXEC), fds);
}

static napi_value fn_socketpair(napi_env env, napi_callback_info info) {
  int fds[2];
  return pair_result(env, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), fds);
}

/* Test hook: shrink the receive cmsg buffer (0..253 fds) to provoke MSG_CTRUNC. */
static napi_value fn_set_recv_fd_cap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t n;
  addon_t *a;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  NAPI_OK(napi_get_instance_data(env, (void **)&a));
  if (argc >= 1 && arg_int(env, argv[0], &n) == 0)
    a->recv_fd_cap = n < 0 ? 0 : n > MAX_FDS ? MAX_FDS : n;
  return num(env, a->recv_fd_cap);
}

/* ------------------------------------------------------------------- init */

static void free_addon(napi_env env, void *data, void *hint) { free(data); }

NAPI_MODULE_INIT() {
  addon_t *a = calloc(1, sizeof *a);
  if (a == NULL) return NULL;
  a->recv_fd_cap = MAX_FDS;
  a->accepted_fd = -1;
  if (napi_set_instance_data(env, a, free_addon, NULL) != napi_ok) {
    free(a);
    return NULL;
  }
  napi_property_descriptor methods[] = {
      {"setEvents", NULL, handle_set_events, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, handle_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls;
  NAPI_OK(napi_define_class(env, "Handle", NAPI_AUTO_LENGTH, handle_new, NULL, 2, methods, &cls));
  napi_property_descriptor props[] = {
      {"Handle", NULL, NULL, NULL, NULL, cls, napi_enumerable, NULL},
      {"connect", NULL, fn_connect, NULL, NULL, NULL, napi_enumerable, NULL},
      {"listen", NULL, fn_listen, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, fn_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"peercred", NULL, fn_peercred, NULL, NULL, NULL, napi_enumerable, NULL},
      {"shutdown", NULL, fn_shutdown, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, fn_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fdType", NULL, fn_fdtype, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pipe", NULL, fn_pipe, NULL, NULL, NULL, napi_enumerable, NULL},
      {"socketpair", NULL, fn_socketpair, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setRecvFdCapacity", NULL, fn_set_recv_fd_cap, NULL, NULL, NULL, napi_enumerable, NULL},
      {"MAX_FDS", NULL, NULL, NULL, NULL, num(env, MAX_FDS), napi_enumerable, NULL},
      {"EV_DATA", NULL, NULL, NULL, NULL, num(env, EV_DATA), napi_enumerable, NULL},
      {"EV_WRITABLE", NULL, NULL, NULL, NULL, num(env, EV_WRITABLE), napi_enumerable, NULL},
      {"EV_EOF", NULL, NULL, NULL, NULL, num(env, EV_EOF), napi_enumerable, NULL},
      {"EV_ERROR", NULL, NULL, NULL, NULL, num(env, EV_ERROR), napi_enumerable, NULL},
      {"EV_CONN", NULL, NULL, NULL, NULL, num(env, EV_CONN), napi_enumerable, NULL},
      {"EV_CLOSED", NULL, NULL, NULL, NULL, num(env, EV_CLOSED), napi_enumerable, NULL},
      {"READABLE", NULL, NULL, NULL, NULL, num(env, UV_READABLE), napi_enumerable, NULL},
      {"WRITABLE", NULL, NULL, NULL, NULL, num(env, UV_WRITABLE), napi_enumerable, NULL},
  };
  NAPI_OK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}
