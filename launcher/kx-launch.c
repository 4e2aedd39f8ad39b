/*
 * kx-launch: the init process of every kata-exec sandbox (cold and warm alike).
 *
 * It says it is ready, reads ONE framed request on stdin, writes the program's files into
 * the writable working directory, runs the program as a child with fresh pipes, relays
 * the child's output in frames on stdout, waits for it with wait4 and sends a final frame
 * with its exit status or signal and its rusage. Then it ends, and the sandbox with it.
 *
 * Only this process writes frames: the program's output travels inside them, never beside
 * them. The program gets no descriptor of ours (every inherited one is closed). With
 * `--user UID:GID` (every profile but dev), this process is root with only CAP_SETUID,
 * CAP_SETGID and CAP_KILL, and the program runs as UID:GID without any capability: it can
 * neither signal, ptrace nor open the /proc files of this process, on every runtime (gVisor's
 * procfs checks the uid only). It is not dumpable either, which is what protects it where
 * both are root (dev). If the launcher dies, no end frame comes and the service answers
 * sandbox_error.
 *
 * A frame, both ways: one type byte, a u32 big-endian length, the payload.
 *   in:  N nonce | F u32 pathlen, path, content | A argv element | E "NAME=value" |
 *        I stdin bytes (appended) |
 *        P "<wall_ms> <cpu_ms> <mem_kb> <out_bytes> <required 0|1>" (a step begins: the A, E
 *          and I frames after it are its own; cpu_ms, mem_kb 0: no such limit) |
 *        M "<kb>" (steps: the sandbox's memory guard, see below) |
 *        G go | K (after the end frame: the service has it)
 *   out: R "kx-launch 1" (ready) | S nonce (the program is about to start) |
 *        O stdout bytes | E stderr bytes |
 *        B "<i>" (step i begins: the O and E frames until its D are its output) |
 *        D "<i> exit|signal <n> <user_us> <sys_us> <maxrss_kb> <wall_us> <limit>" (step i
 *          ended; limit: wall, cpu, memory, output, oom (the guard) or - when none of ours
 *          ended it) |
 *        X "<nonce> exit|signal <n> <user_us> <sys_us> <maxrss_kb>" (the end)
 *
 * Steps (a compile, then one run per test): a request with P frames runs its steps in order
 * in this one sandbox, each a fresh child as the program's user with its own argv, stdin
 * and environment (the E frames before the first P, then its own), instead of the one
 * program; a request without them runs as it always did. Each step's limits are the
 * launcher's to enforce, every ~10 ms (the ~POLL_MS tick): its wall clock; its CPU time,
 * user+sys of every process of the step (the live ones' /proc/PID/stat, the reaped ones'
 * through this process's RUSAGE_CHILDREN), with RLIMIT_CPU as a backstop; its peak RSS (each
 * process's, from /proc/PID/stat, and wait4's ru_maxrss at the end); its output, killed at
 * 4x its cap plus 1 MiB (as the service does for a whole run). A limit kills every process
 * of the step (every one but this one: only one step runs at a time), never the sandbox.
 * CPU and memory over the limit are reported as such even when the step ended by itself
 * between two ticks. The step's program has oom_score_adj 1000: the sandbox's OOM killer
 * takes it, not the launcher, and the next step runs (whether a SIGKILL was the OOM killer
 * is the service's to tell, from containerd's OOM events). A required step that does not
 * exit 0 ends the run. X repeats the last step's status; its usage is the last step's.
 * Where the sandbox's OOM kill would end the sandbox itself (gVisor: the host's OOM killer
 * sees only the Sentry, one process), the service sends M: the launcher then also kills the
 * step, as 'oom', when the sandbox's MemAvailable (/proc/meminfo, the Sentry's own count
 * against the sandbox's limit) falls below that many KiB; checked every 2 ms once it is
 * within twice that.
 * Built static (gcc -static -O2) by scripts/build-image.sh; see src/sandbox/launch-protocol.ts.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKDIR "/code"
#define MAX_FRAME (256u << 20)
#define MAX_TOTAL (512u << 20)
#define MAX_ITEMS 4096
/* How long the launcher waits, after its end frame, for the service to say it has it. */
#define ACK_WAIT_MS 5000
/* Steps in one request, at most (src/sandbox/spec.ts MAX_STEPS). */
#define MAX_STEPS 256
/* How often a step's limits are checked. */
#define POLL_MS 10
/* A step's output past this many times its cap (plus 1 MiB) kills it (src/sandbox/output-cap.ts). */
#define OUTPUT_KILL_FACTOR 4
#define OUTPUT_KILL_SLACK (1 << 20)

extern char **environ;

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("kx-launch: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  _exit(2);
}

static int write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void send_frame(char type, const void *data, uint32_t len) {
  unsigned char h[5] = {(unsigned char)type, (unsigned char)(len >> 24), (unsigned char)(len >> 16), (unsigned char)(len >> 8), (unsigned char)len};
  if (write_all(1, h, 5) < 0 || write_all(1, data, len) < 0) _exit(3);
}

/*
 * Session mode (kx-session.c, included at the end) runs its calls through the same code as
 * a one-shot request: run_program, run_steps, run_one. What differs is behind these hooks:
 * where frames go (the session's connection, whose loss abandons the call, never the
 * launcher), which processes are the call's (not the attach process, not the background
 * ones), and what else the launcher listens to while a call runs (the service's K, a newer
 * attach, the call's deadline, the session's end).
 */
static int in_session;
/* The call is over (session mode: the service's K, its deadline, nobody left to answer to):
   its processes are killed and no further step runs. */
static int call_over;
/* Session mode: nobody to send the call's frames to any more. */
static int call_abandoned;
/* CPU time (µs) of reaped processes that were not a call's (session mode: background keepers). */
static long long foreign_user_us, foreign_sys_us;
static int kxs_send(char type, const void *data, uint32_t len);
static void kxs_kill_call(void);
static int kxs_protected(pid_t pid);
static int kxs_reaped(pid_t pid, int status);
static int kxs_call_fds(struct pollfd *p);
static void kxs_call_events(struct pollfd *p);
static int kxs_call_timeout(int timeout);

/* A frame of a run: on stdout (one-shot), or on the session's connection while it lasts. */
static void emit(char type, const void *data, uint32_t len) {
  if (!in_session) {
    send_frame(type, data, len);
    return;
  }
  if (call_abandoned) return;
  if (kxs_send(type, data, len) < 0) call_abandoned = call_over = 1;
}

static int read_all(int fd, void *buf, size_t n) {
  char *p = buf;
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) return 0;
    p += r;
    n -= (size_t)r;
  }
  return 1;
}

struct item {
  char *data;
  uint32_t len;
};

static struct item files[MAX_ITEMS], argv_items[MAX_ITEMS], env_items[MAX_ITEMS];
static int nfiles, nargs, nenv;
static char *nonce = NULL;
/* The program's user (--user), when it is not ours: the launcher is root, the program not. */
static int switch_user = 0;
static uid_t prog_uid;
static gid_t prog_gid;
static char *stdin_buf = NULL;
static size_t stdin_len = 0;

static void add(struct item *list, int *n, char *data, uint32_t len) {
  if (*n >= MAX_ITEMS) die("too many items in the request");
  list[*n].data = data;
  list[*n].len = len;
  (*n)++;
}

/*
 * One step of a multi-step request (P frames). Its stdin is kept in one file for all the
 * steps (stdin_store), not in this process's memory: a child forked from a launcher that
 * holds every test's input would start with all of it resident, and exec records that in
 * its ru_maxrss (the kernel's hiwater of the old mm), which would read as the step's.
 */
struct step {
  int64_t wall_ms, cpu_ms, mem_kb, out_bytes;
  int required;
  struct item *argv, *env;
  int nargv, nenv;
  off_t in_off;
  size_t in_len;
};
static struct step steps[MAX_STEPS];
static int nsteps;
static int stdin_store = -1;
/* M: the sandbox's MemAvailable (KiB) below which a step is ended as 'oom'; 0: no guard. */
static long long mem_guard_kb;

static void add_dyn(struct item **list, int *n, char *data, uint32_t len) {
  if (*n >= MAX_ITEMS) die("too many items in the request");
  if ((*n & (*n - 1)) == 0) {
    struct item *v = realloc(*list, (size_t)(*n ? *n * 2 : 1) * sizeof **list);
    if (!v) die("out of memory");
    *list = v;
  }
  (*list)[*n].data = data;
  (*list)[*n].len = len;
  (*n)++;
}

/* An in-memory file (a tmpfs one where memfd_create is missing); -1 when neither. */
static int mem_file(const char *name) {
  int fd = (int)syscall(SYS_memfd_create, name, 0);
  if (fd < 0) fd = open("/tmp", O_TMPFILE | O_RDWR, 0600);
  return fd;
}

static void step_frame(char *data) {
  if (nsteps >= MAX_STEPS) die("too many steps in the request");
  long long w, c, m, o;
  int r;
  char extra;
  if (sscanf(data, "%lld %lld %lld %lld %d%c", &w, &c, &m, &o, &r, &extra) != 5 || w <= 0 || c < 0 || m < 0 || o <= 0 || (r != 0 && r != 1)) {
    die("a step frame that is not <wall_ms> <cpu_ms> <mem_kb> <out_bytes> <required>: %.80s", data);
  }
  struct step *st = &steps[nsteps++];
  memset(st, 0, sizeof *st);
  st->wall_ms = w;
  st->cpu_ms = c;
  st->mem_kb = m;
  st->out_bytes = o;
  st->required = r;
}

/* A step's stdin bytes: appended to the store, where its part of it is remembered. */
static void step_stdin(struct step *st, const char *data, uint32_t len) {
  if (stdin_store < 0 && (stdin_store = mem_file("steps-stdin")) < 0) die("no file for the steps' stdin: %s", strerror(errno));
  off_t end = lseek(stdin_store, 0, SEEK_END);
  if (end < 0) die("the steps' stdin: %s", strerror(errno));
  if (st->in_len == 0) st->in_off = end;
  else if (st->in_off + (off_t)st->in_len != end) die("a step's stdin frames are not together");
  if (write_all(stdin_store, data, len) < 0) die("the steps' stdin: %s", strerror(errno));
  st->in_len += len;
}

/*
 * One frame of a request (`data` is ours to keep or free). Returns 1 at G, its end. A
 * session's nonce came before (its N is not taken here); an unknown frame ends a one-shot
 * launcher and is ignored by a session's, which must live on.
 */
static int request_frame(char type, char *data, uint32_t len) {
  struct step *st = nsteps ? &steps[nsteps - 1] : NULL;
  switch (type) {
    case 'N':
      if (in_session) break;
      nonce = data;
      return 0;
    case 'F': add(files, &nfiles, data, len); return 0;
    case 'P': step_frame(data); break;
    case 'M': {
      char extra;
      if (sscanf(data, "%lld%c", &mem_guard_kb, &extra) != 1 || mem_guard_kb < 0) die("a bad memory guard frame");
      break;
    }
    case 'A':
      if (st) add_dyn(&st->argv, &st->nargv, data, len);
      else add(argv_items, &nargs, data, len);
      return 0;
    case 'E':
      if (st) add_dyn(&st->env, &st->nenv, data, len);
      else add(env_items, &nenv, data, len);
      return 0;
    case 'I':
      if (st) {
        step_stdin(st, data, len);
        break;
      }
      {
        char *b = realloc(stdin_buf, stdin_len + len + 1);
        if (!b) die("out of memory");
        memcpy(b + stdin_len, data, len);
        stdin_buf = b;
        stdin_len += len;
      }
      break;
    case 'G': free(data); return 1;
    default:
      if (!in_session) die("unknown frame type %d", type);
  }
  free(data);
  return 0;
}

/* What is wrong with the request's shape, or NULL: a program or steps, each with its argv. */
static const char *request_problem(void) {
  if (!nonce) return "a request without its nonce";
  if (nsteps == 0 && nargs == 0) return "a request without its program";
  if (nsteps > 0 && nargs > 0) return "a request with both a program and steps";
  for (int i = 0; i < nsteps; i++)
    if (steps[i].nargv == 0) return "a step without its program";
  return NULL;
}

/* A session forgets its last call's request (a one-shot launcher has only one). */
static void forget_request(void) {
  for (int i = 0; i < nfiles; i++) free(files[i].data);
  for (int i = 0; i < nargs; i++) free(argv_items[i].data);
  for (int i = 0; i < nenv; i++) free(env_items[i].data);
  nfiles = nargs = nenv = 0;
  for (int i = 0; i < nsteps; i++) {
    for (int j = 0; j < steps[i].nargv; j++) free(steps[i].argv[j].data);
    for (int j = 0; j < steps[i].nenv; j++) free(steps[i].env[j].data);
    free(steps[i].argv);
    free(steps[i].env);
  }
  nsteps = 0;
  free(stdin_buf);
  stdin_buf = NULL;
  stdin_len = 0;
  if (stdin_store >= 0) close(stdin_store);
  stdin_store = -1;
  mem_guard_kb = 0;
}

/* Reads frames until G. End of input before it: nobody will send a request (exit quietly). */
static void read_request(void) {
  size_t total = 0;
  for (;;) {
    unsigned char h[5];
    int r = read_all(0, h, 5);
    if (r == 0) _exit(0);
    if (r < 0) die("reading the request: %s", strerror(errno));
    uint32_t len = ((uint32_t)h[1] << 24) | ((uint32_t)h[2] << 16) | ((uint32_t)h[3] << 8) | h[4];
    if (len > MAX_FRAME || (total += len) > MAX_TOTAL) die("request too large");
    char *data = malloc((size_t)len + 1);
    if (!data) die("out of memory");
    if (len && read_all(0, data, len) != 1) die("request cut short");
    data[len] = '\0';
    if (request_frame((char)h[0], data, len)) return;
  }
}

/* A relative path without "", "." or ".." parts (the service checked it too). */
static int safe_path(const char *p) {
  if (*p == '\0' || *p == '/') return 0;
  const char *s = p;
  while (*s) {
    const char *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return 0;
    if (!e) break;
    s = e + 1;
  }
  return 1;
}

static const char *write_files_as_is(char *msg, size_t msgsz);

/*
 * As the program's user for a while (its files and directories are its own, to change or
 * remove) and back: the effective ids only, so that root's capabilities come back after.
 */
static void as_program(int on) {
  if (!switch_user) return;
  if (on ? setegid(prog_gid) < 0 || seteuid(prog_uid) < 0 : seteuid(0) < 0 || setegid(0) < 0) die("switching the effective user: %s", strerror(errno));
}

/* Writes the files under WORKDIR, as the program's user. Returns NULL, or the reason it could not. */
static const char *write_files(char *msg, size_t msgsz) {
  as_program(1);
  const char *r = write_files_as_is(msg, msgsz);
  as_program(0);
  return r;
}

static const char *write_files_as_is(char *msg, size_t msgsz) {
  for (int i = 0; i < nfiles; i++) {
    struct item *f = &files[i];
    if (f->len < 4) return "a file frame without its path";
    uint32_t plen = ((uint32_t)(unsigned char)f->data[0] << 24) | ((uint32_t)(unsigned char)f->data[1] << 16) |
                    ((uint32_t)(unsigned char)f->data[2] << 8) | (unsigned char)f->data[3];
    if (plen == 0 || plen > f->len - 4 || plen > 4096) return "a file frame with a bad path length";
    char path[4200];
    snprintf(path, sizeof path, "%s/%.*s", WORKDIR, (int)plen, f->data + 4);
    if (memchr(f->data + 4, '\0', plen) || !safe_path(path + strlen(WORKDIR) + 1)) return "a file path that is not relative";
    for (char *s = path + strlen(WORKDIR) + 1; (s = strchr(s, '/')); s++) {
      *s = '\0';
      if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        snprintf(msg, msgsz, "making %s: %s", path, strerror(errno));
        return msg;
      }
      *s = '/';
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 || write_all(fd, f->data + 4 + plen, f->len - 4 - plen) < 0 || close(fd) < 0) {
      snprintf(msg, msgsz, "writing %s: %s", path, strerror(errno));
      return msg;
    }
    free(f->data);
    f->data = NULL;
  }
  nfiles = 0;
  return NULL;
}

/* The program's stdin: an in-memory file holding the request's bytes, read from the start. */
static int stdin_fd(void) {
  int fd = mem_file("stdin");
  if (fd < 0) return open("/dev/null", O_RDONLY);
  if (stdin_len && write_all(fd, stdin_buf, stdin_len) < 0) return -1;
  lseek(fd, 0, SEEK_SET);
  return fd;
}

/* A step's stdin: a fresh in-memory file with its part of the store, read from the start. */
static int step_stdin_fd(const struct step *st) {
  if (st->in_len == 0) return open("/dev/null", O_RDONLY | O_CLOEXEC);
  int fd = mem_file("stdin");
  if (fd < 0) return -1;
  char buf[65536];
  for (size_t done = 0; done < st->in_len;) {
    size_t want = st->in_len - done < sizeof buf ? st->in_len - done : sizeof buf;
    ssize_t r = pread(stdin_store, buf, want, st->in_off + (off_t)done);
    if (r <= 0 || write_all(fd, buf, (size_t)r) < 0) {
      close(fd);
      return -1;
    }
    done += (size_t)r;
  }
  lseek(fd, 0, SEEK_SET);
  return fd;
}

/* Entries of `v` on top of env[0..k): each replaces a same name, or is added. */
static size_t env_overlay(char **env, size_t k, const struct item *v, int n) {
  for (int j = 0; j < n; j++) {
    const char *eq = strchr(v[j].data, '=');
    size_t nl = eq ? (size_t)(eq - v[j].data) + 1 : strlen(v[j].data);
    size_t i = 0;
    while (i < k && strncmp(env[i], v[j].data, nl) != 0) i++;
    env[i] = v[j].data;
    if (i == k) k++;
  }
  return k;
}

/* The sandbox's environment, the request's on top, then `extra` (a step's) on top of both. */
static char **env_with(const struct item *extra, int nextra) {
  size_t n = 0;
  while (environ[n]) n++;
  char **env = calloc(n + (size_t)nenv + (size_t)nextra + 1, sizeof *env);
  if (!env) die("out of memory");
  size_t k = 0;
  for (size_t i = 0; i < n; i++) env[k++] = environ[i];
  k = env_overlay(env, k, env_items, nenv);
  k = env_overlay(env, k, extra, nextra);
  env[k] = NULL;
  return env;
}

/* The sandbox's environment with the request's on top (a request entry replaces a same name). */
static char **child_env(void) {
  return env_with(NULL, 0);
}

/*
 * In the child: closes every descriptor above 2. close_range where the kernel has it (gVisor
 * has not: there each of 65536 close calls is a trip through the Sentry, seconds in all),
 * else the ones /proc/self/fd lists, else up to RLIMIT_NOFILE.
 */
static void close_inherited(void) {
  if (syscall(SYS_close_range, 3, ~0U, 0) == 0) return;
  int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    char buf[4096];
    long n;
    int fds[1024], nfds = 0, more = 1;
    while (more && (n = syscall(SYS_getdents64, dfd, buf, sizeof buf)) > 0) {
      for (long off = 0; off < n;) {
        struct dirent64 *e = (struct dirent64 *)(buf + off);
        off += e->d_reclen;
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end || e->d_name[0] == '.' || fd < 3 || fd == dfd) continue;
        if (nfds == 1024) {
          more = 0;
          break;
        }
        fds[nfds++] = (int)fd;
      }
    }
    close(dfd);
    if (more) {
      for (int i = 0; i < nfds; i++) close(fds[i]);
      return;
    }
  }
  struct rlimit rl;
  rlim_t max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? rl.rlim_cur : 65536;
  for (rlim_t fd = 3; fd < max; fd++) close((int)fd);
}

static int sig_pipe[2];
static void on_child(int s) {
  (void)s;
  int e = errno;
  (void)write(sig_pipe[1], "c", 1);
  errno = e;
}

/* Every process but this one (a session's: but its own): what the program left behind ends with it. */
static void kill_others(void) {
  if (in_session) {
    kxs_kill_call();
    return;
  }
  for (int round = 0; round < 50; round++) {
    int found = 0;
    DIR *d = opendir("/proc");
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
      char *end;
      long pid = strtol(e->d_name, &end, 10);
      if (*end || pid <= 0 || pid == getpid()) continue;
      if (kill((pid_t)pid, SIGKILL) == 0) found = 1;
    }
    closedir(d);
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    if (!found) return;
  }
}

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * After the end frame: waits for the service's K frame, or the end of stdin, before this
 * process ends, so that the sandbox's stdout is read to its end while its init still
 * lives, whatever the runtime's shim does with the last bytes of a process that exited
 * (one run in fifty lost all of its frames on runc under load). Bounded: a service that
 * went away does not keep the sandbox.
 */
static void await_ack(void) {
  struct pollfd p = {0, POLLIN, 0};
  int64_t until = now_ms() + ACK_WAIT_MS;
  for (;;) {
    int64_t left = until - now_ms();
    if (left <= 0) return;
    int r = poll(&p, 1, (int)left);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return;
    char b[16];
    if (read(0, b, sizeof b) < 0 && errno == EINTR) continue;
    return;
  }
}

static int64_t now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static long long tv_us(struct timeval t) {
  return (long long)t.tv_sec * 1000000 + t.tv_usec;
}

/*
 * In a child: the program's user for good (every capability goes with root: no keep-caps, no
 * new privileges), when the launcher is root and the program is not. -1 and errno on failure.
 */
static int become_program_user(void) {
  if (!switch_user) return 0;
  if (setgroups(1, &prog_gid) < 0 || setresgid(prog_gid, prog_gid, prog_gid) < 0 || setresuid(prog_uid, prog_uid, prog_uid) < 0) return -1;
  return 0;
}

/*
 * In the child: becomes the program. Fresh stdio, no descriptor of ours, default signals,
 * a session of its own in a session sandbox (not the launcher's process group), the OOM
 * killer's first choice, its CPU-time backstop (cpu_ms > 0: RLIMIT_CPU a second past it,
 * SIGKILL a second later), the program's user for good, /code. The one way every program
 * and every step starts, one-shot and in a session.
 */
static void exec_program(int in, int out, int err, char **argv, char **env, int64_t cpu_ms) __attribute__((noreturn));
static void exec_program(int in, int out, int err, char **argv, char **env, int64_t cpu_ms) {
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(126);
  close_inherited();
  signal(SIGPIPE, SIG_DFL);
  signal(SIGCHLD, SIG_DFL);
  if (in_session) setsid();
  /* Under memory pressure the kernel picks the program, never the launcher. */
  int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (oom >= 0) {
    (void)write(oom, "1000", 4);
    close(oom);
  }
  struct rlimit rl;
  if (cpu_ms > 0 && getrlimit(RLIMIT_CPU, &rl) == 0) {
    rlim_t soft = (rlim_t)((cpu_ms + 999) / 1000 + 1);
    if (rl.rlim_max != RLIM_INFINITY && soft + 1 > rl.rlim_max) soft = rl.rlim_max > 1 ? rl.rlim_max - 1 : rl.rlim_max;
    struct rlimit want = {soft, rl.rlim_max == RLIM_INFINITY || soft + 1 <= rl.rlim_max ? soft + 1 : rl.rlim_max};
    (void)setrlimit(RLIMIT_CPU, &want);
  }
  if (become_program_user() < 0) {
    dprintf(2, "kx-launch: becoming %u:%u: %s\n", (unsigned)prog_uid, (unsigned)prog_gid, strerror(errno));
    _exit(126);
  }
  if (chdir(WORKDIR) < 0) _exit(126);
  execve(argv[0], argv, env);
  if (!strchr(argv[0], '/')) execvpe(argv[0], argv, env);
  dprintf(2, "kx-launch: %s: %s\n", argv[0], strerror(errno));
  _exit(errno == ENOENT ? 127 : 126);
}

/* The one program (or step) running now: what reaping it found. */
static pid_t cur_child = -1;
static int cur_done, cur_status;
static struct rusage cur_ru;

/* Reaps every process that ended; the current program's status and rusage are kept. */
static void reap(void) {
  for (;;) {
    int st;
    struct rusage r1;
    pid_t w = wait4(-1, &st, WNOHANG, &r1);
    if (w <= 0) return;
    if (w == cur_child && !cur_done) {
      cur_status = st;
      cur_ru = r1;
      cur_done = 1;
    } else if (in_session && kxs_reaped(w, st)) {
      /* A background keeper: its time (and its descendants') is not the call's. */
      foreign_user_us += tv_us(r1.ru_utime);
      foreign_sys_us += tv_us(r1.ru_stime);
    }
  }
}

/* One run of a program: the limits it gets, and what came of it. */
struct run {
  char **argv, **env;
  int in;
  /* 0: no such limit (the legacy program has none: the service watches it). */
  int64_t wall_ms, cpu_ms, mem_kb, out_kill, guard_kb;
  /* Which limit the launcher ended it for (NULL: none), and when it did. */
  const char *limit;
  int status;
  struct rusage ru;
  int64_t wall_us;
  /* CPU time of every process of the run (reaped ones included), and the largest RSS seen. */
  long long cpu_user_us, cpu_sys_us;
  long peak_kb;
  struct rusage base;
  long long base_foreign_user_us, base_foreign_sys_us;
};

/*
 * Every process of the run: all but this one, as only one runs at a time. kill(-1) from a
 * PID namespace's init reaches all of them at once, a process forking meanwhile included.
 * A session's spares its attach process and its background processes.
 */
static void kill_call(void) {
  if (in_session) kxs_kill_call();
  else (void)kill(-1, SIGKILL);
}

static void kill_run(struct run *r, const char *why) {
  if (!r->limit) r->limit = why;
  kill_call();
}

/*
 * CPU time (µs) of the run so far: the reaped processes' through our RUSAGE_CHILDREN since
 * its start, the live ones' (their waited-for children included) from /proc/PID/stat; and
 * the largest resident set among the live ones (KiB).
 */
static long long run_cpu_us(const struct run *r, long *peak_kb) {
  struct rusage now;
  getrusage(RUSAGE_CHILDREN, &now);
  long long us = tv_us(now.ru_utime) - tv_us(r->base.ru_utime) + tv_us(now.ru_stime) - tv_us(r->base.ru_stime) -
                (foreign_user_us - r->base_foreign_user_us) - (foreign_sys_us - r->base_foreign_sys_us);
  static long tick, page_kb;
  if (!tick) tick = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
  if (!page_kb) page_kb = sysconf(_SC_PAGESIZE) > 0 ? sysconf(_SC_PAGESIZE) / 1024 : 4;
  *peak_kb = 0;
  DIR *d = opendir("/proc");
  if (!d) return us;
  struct dirent *e;
  while ((e = readdir(d))) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end || pid <= 1) continue;
    if (in_session && kxs_protected((pid_t)pid) != 0) continue;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) continue;
    buf[n] = '\0';
    /* After the command's ")": state (3) ... utime (14) stime (15) cutime (16) cstime (17) ... rss (24). */
    char *p = strrchr(buf, ')');
    if (!p) continue;
    unsigned long long f[25] = {0};
    int field = 2;
    for (char *tok = strtok(p + 1, " "); tok && field < 24; tok = strtok(NULL, " ")) f[++field] = strtoull(tok, NULL, 10);
    us += (long long)((f[14] + f[15] + f[16] + f[17]) * 1000000ULL / (unsigned long long)tick);
    long rss = (long)f[24] * page_kb;
    if (rss > *peak_kb) *peak_kb = rss;
  }
  closedir(d);
  return us;
}

/* The sandbox's MemAvailable (KiB) from /proc/meminfo; -1 when unreadable. */
static long long mem_available_kb(void) {
  int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  char *p = strstr(buf, "MemAvailable:");
  return p ? strtoll(p + 13, NULL, 10) : -1;
}

/* Returns how soon (ms) to check again: sooner when the sandbox's memory is nearly gone. */
static int check_limits(struct run *r, int64_t t0_us) {
  if (r->wall_ms && now_us() - t0_us >= r->wall_ms * 1000) return kill_run(r, "wall"), POLL_MS;
  int next = POLL_MS;
  if (r->guard_kb) {
    long long avail = mem_available_kb();
    if (avail >= 0 && avail < r->guard_kb) return kill_run(r, "oom"), POLL_MS;
    if (avail >= 0 && avail < 2 * r->guard_kb) next = 2;
  }
  if (!r->cpu_ms && !r->mem_kb) return next;
  long peak;
  long long cpu = run_cpu_us(r, &peak);
  if (peak > r->peak_kb) r->peak_kb = peak;
  if (r->cpu_ms && cpu >= r->cpu_ms * 1000) kill_run(r, "cpu");
  else if (r->mem_kb && peak > r->mem_kb) kill_run(r, "memory");
  return next;
}

/*
 * Once the program was reaped: its wall time, and what it left ends now (its last bytes are
 * read for a moment more, until *drain_until).
 */
static void noted_end(struct run *r, int64_t t0, int64_t *drain_until) {
  if (!cur_done || *drain_until) return;
  r->wall_us = now_us() - t0;
  kill_others();
  *drain_until = now_us() / 1000 + 2000;
}

/*
 * Runs one program to its end: relays its output in frames, enforces the run's limits (when
 * it has any) every POLL_MS, reaps it with wait4; what it left ends with it, and its last
 * bytes are read for a moment more. Returns -1 when it could not be started (fork).
 */
static int run_program(struct run *r) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) die("pipe: %s", strerror(errno));
  getrusage(RUSAGE_CHILDREN, &r->base);
  r->base_foreign_user_us = foreign_user_us;
  r->base_foreign_sys_us = foreign_sys_us;
  int64_t t0 = now_us();
  cur_done = 0;
  cur_child = fork();
  if (cur_child < 0) {
    close(out[0]), close(out[1]), close(err[0]), close(err[1]);
    return -1;
  }
  if (cur_child == 0) exec_program(r->in, out[1], err[1], r->argv, r->env, r->cpu_ms);
  close(out[1]);
  close(err[1]);

  /* A session also listens to its connection and its socket (p[3], p[4]) while a call runs. */
  struct pollfd p[5] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {sig_pipe[0], POLLIN, 0}, {-1, 0, 0}, {-1, 0, 0}};
  int np = 3 + (in_session ? kxs_call_fds(p + 3) : 0);
  char buf[65536];
  int64_t drain_until = 0, next_tick = now_us() + POLL_MS * 1000;
  uint64_t counts[2] = {0, 0};
  int ticking = r->wall_ms > 0 || r->cpu_ms > 0 || r->mem_kb > 0 || r->guard_kb > 0;
  while (p[0].fd >= 0 || p[1].fd >= 0 || !cur_done) {
    /* Reaped here or by a kill (a session's reaps as it kills). */
    noted_end(r, t0, &drain_until);
    int timeout = -1;
    if (cur_done) {
      int64_t left = drain_until - now_us() / 1000;
      if (left <= 0) break;
      timeout = (int)left;
    } else if (ticking) {
      int64_t left = (next_tick - now_us() + 999) / 1000;
      timeout = left > 0 ? (int)left : 0;
    }
    if (in_session && !cur_done) timeout = kxs_call_timeout(timeout);
    int n = poll(p, (nfds_t)np, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("poll: %s", strerror(errno));
    }
    /* K, a newer attach, the call's deadline or the session's end (may set call_over). */
    if (in_session) kxs_call_events(p + 3);
    for (int i = 0; i < 2; i++) {
      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = read(p[i].fd, buf, sizeof buf);
      if (got > 0) {
        emit(i == 0 ? 'O' : 'E', buf, (uint32_t)got);
        counts[i] += (uint64_t)got;
        if (r->out_kill && counts[i] > (uint64_t)r->out_kill && !cur_done) kill_run(r, "output");
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(p[i].fd);
        p[i].fd = -1;
      }
    }
    if (p[2].revents & POLLIN) {
      while (read(sig_pipe[0], buf, sizeof buf) > 0) {
      }
      reap();
      noted_end(r, t0, &drain_until);
    }
    /* The call is over: its processes go, now and at each turn until the program's end. */
    if (call_over && !cur_done) kill_call();
    if (!cur_done && ticking && now_us() >= next_tick) {
      int again = POLL_MS;
      /* Once killed, the kill goes on until its end (a process forked meanwhile included). */
      if (r->limit) kill_run(r, r->limit);
      else again = check_limits(r, t0);
      next_tick = now_us() + again * 1000;
    }
  }
  for (int i = 0; i < 2; i++)
    if (p[i].fd >= 0) close(p[i].fd);
  noted_end(r, t0, &drain_until);
  kill_others();
  r->status = cur_status;
  r->ru = cur_ru;
  struct rusage after;
  getrusage(RUSAGE_CHILDREN, &after);
  r->cpu_user_us = tv_us(after.ru_utime) - tv_us(r->base.ru_utime) - (foreign_user_us - r->base_foreign_user_us);
  r->cpu_sys_us = tv_us(after.ru_stime) - tv_us(r->base.ru_stime) - (foreign_sys_us - r->base_foreign_sys_us);
  if (r->ru.ru_maxrss > r->peak_kb) r->peak_kb = r->ru.ru_maxrss;
  cur_child = -1;
  return 0;
}

/* "exit <n>" or "signal <n>" of a wait status. */
static const char *status_word(int st, int *n) {
  if (WIFSIGNALED(st)) {
    *n = WTERMSIG(st);
    return "signal";
  }
  *n = WEXITSTATUS(st);
  return "exit";
}

/* A step that could not start: its stderr says why, as a shell's would; it "exited 126". */
static void step_not_started(int i, const char *why) {
  char line[4700];
  int n = snprintf(line, sizeof line, "kx-launch: %s\n", why);
  emit('E', line, (uint32_t)(n < (int)sizeof line ? n : (int)sizeof line - 1));
  char d[100];
  n = snprintf(d, sizeof d, "%d exit 126 0 0 0 0 -", i);
  emit('D', d, (uint32_t)n);
}

/*
 * Runs the request's steps in order, each a fresh child with its own limits; a required one
 * that does not exit 0 ends the run, and so does the end of a session's call (its step was
 * killed, and has its D). Writes the last step's X payload into `end`.
 */
static int run_steps(const char *bad, char *end, size_t endsz) {
  int status = 126 << 8;
  struct rusage last = {0};
  long last_rss = 0;
  for (int i = 0; i < nsteps && !call_over; i++) {
    struct step *st = &steps[i];
    char b[16];
    int bn = snprintf(b, sizeof b, "%d", i);
    emit('B', b, (uint32_t)bn);
    if (bad) {
      step_not_started(i, bad);
      status = 126 << 8;
      break;
    }
    char msg[200];
    int in = step_stdin_fd(st);
    char **argv = calloc((size_t)st->nargv + 1, sizeof *argv);
    if (!argv) die("out of memory");
    for (int j = 0; j < st->nargv; j++) argv[j] = st->argv[j].data;
    char **env = env_with(st->env, st->nenv);
    struct run r = {0};
    r.argv = argv;
    r.env = env;
    r.in = in;
    r.wall_ms = st->wall_ms;
    r.cpu_ms = st->cpu_ms;
    r.mem_kb = st->mem_kb;
    r.out_kill = st->out_bytes * OUTPUT_KILL_FACTOR + OUTPUT_KILL_SLACK;
    r.guard_kb = mem_guard_kb;
    int ran = in < 0 ? -1 : run_program(&r);
    if (in >= 0) close(in);
    free(argv);
    free(env);
    if (ran < 0) {
      snprintf(msg, sizeof msg, "%s: %s", in < 0 ? "the step's stdin" : "fork", strerror(errno));
      step_not_started(i, msg);
      status = 126 << 8;
      memset(&last, 0, sizeof last);
      last_rss = 0;
      if (st->required) break;
      continue;
    }
    /* Over its CPU time or memory between two checks, or on the RLIMIT_CPU backstop: still that limit. */
    if (!r.limit) {
      if ((WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGXCPU) || (r.cpu_ms && r.cpu_user_us + r.cpu_sys_us > r.cpu_ms * 1000)) r.limit = "cpu";
      else if (r.mem_kb && r.peak_kb > r.mem_kb) r.limit = "memory";
    }
    int n;
    const char *word = status_word(r.status, &n);
    char d[300];
    int dn = snprintf(d, sizeof d, "%d %s %d %lld %lld %ld %lld %s", i, word, n, r.cpu_user_us, r.cpu_sys_us, r.peak_kb, (long long)r.wall_us, r.limit ? r.limit : "-");
    emit('D', d, (uint32_t)dn);
    status = r.status;
    last.ru_utime.tv_sec = r.cpu_user_us / 1000000, last.ru_utime.tv_usec = r.cpu_user_us % 1000000;
    last.ru_stime.tv_sec = r.cpu_sys_us / 1000000, last.ru_stime.tv_usec = r.cpu_sys_us % 1000000;
    last_rss = r.peak_kb;
    if (st->required && !(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0)) break;
  }
  int n;
  const char *word = status_word(status, &n);
  return snprintf(end, endsz, "%s %s %d %lld %lld %ld", nonce, word, n, tv_us(last.ru_utime), tv_us(last.ru_stime), last_rss);
}

/*
 * Runs the request's one program (no steps: the service watches it, the launcher holds it
 * to no limit of its own). Writes its X payload into `end`. `bad`: why it cannot start.
 */
static int run_one(const char *bad, char *end, size_t endsz) {
  char msg[200];
  int in = bad ? -1 : stdin_fd();
  if (!bad && in < 0) {
    snprintf(msg, sizeof msg, "stdin: %s", strerror(errno));
    bad = msg;
  }
  struct run r = {0};
  if (!bad) {
    char **argv = calloc((size_t)nargs + 1, sizeof *argv);
    if (!argv) die("out of memory");
    for (int i = 0; i < nargs; i++) argv[i] = argv_items[i].data;
    r.argv = argv;
    r.env = child_env();
    r.in = in;
    if (run_program(&r) < 0) {
      snprintf(msg, sizeof msg, "fork: %s", strerror(errno));
      bad = msg;
    }
    free(argv);
    free(r.env);
  }
  if (in >= 0) close(in);
  if (bad) {
    /* The program could not be started: its stderr says why, as a shell's would. */
    char line[4700];
    int n = snprintf(line, sizeof line, "kx-launch: %s\n", bad);
    emit('E', line, (uint32_t)(n < (int)sizeof line ? n : (int)sizeof line - 1));
    return snprintf(end, endsz, "%s exit 126 0 0 0", nonce);
  }
  int code;
  const char *word = status_word(r.status, &code);
  return snprintf(end, endsz, "%s %s %d %lld %lld %ld", nonce, word, code, tv_us(r.ru.ru_utime), tv_us(r.ru.ru_stime), r.ru.ru_maxrss);
}

int main(int argc, char **argv_in) {
  /* It ends every other process of its PID namespace: anywhere but as a sandbox's init that
     would be every process of the host. */
  if (getpid() != 1) die("must be the init process of a sandbox (pid 1), not pid %d", (int)getpid());
  if (argc == 3 && strcmp(argv_in[1], "--user") == 0) {
    unsigned u, g;
    char extra;
    if (sscanf(argv_in[2], "%u:%u%c", &u, &g, &extra) != 2) die("--user takes UID:GID, not %s", argv_in[2]);
    prog_uid = (uid_t)u;
    prog_gid = (gid_t)g;
    /* Root switches to the program's user; anyone else (an image's own user) runs it as itself. */
    switch_user = getuid() == 0 && u != 0;
    if (!switch_user && getuid() != (uid_t)u) die("asked to run the program as %u, but the launcher is %u and cannot", u, (unsigned)getuid());
  } else if (argc != 1) {
    die("usage: kx-launch [--user UID:GID]");
  }
  /* Nobody but root may open /proc/1/fd/..., read our memory or ptrace us. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  /* Large buffers (the request's) go back to the kernel when freed: a program forked later
     does not start with them resident (its ru_maxrss would count them). */
  mallopt(M_MMAP_THRESHOLD, 64 * 1024);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_IGN);
  static const char ready[] = "kx-launch 1";
  send_frame('R', ready, sizeof ready - 1);

  read_request();
  const char *problem = request_problem();
  if (problem) die("%s", problem);
  send_frame('S', nonce, (uint32_t)strlen(nonce));

  char msg[4600];
  const char *bad = write_files(msg, sizeof msg);
  if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) die("pipe: %s", strerror(errno));
  struct sigaction sa = {0};
  sa.sa_handler = on_child;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);

  char end[400];
  int n = nsteps > 0 ? run_steps(bad, end, sizeof end) : run_one(bad, end, sizeof end);
  send_frame('X', end, (uint32_t)n);
  await_ack();
  return 0;
}
#include "kx-session.c"
