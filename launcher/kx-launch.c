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
 *        I stdin bytes (appended) | G go | K (after the end frame: the service has it)
 *   out: R "kx-launch 1" (ready) | S nonce (the program is about to start) |
 *        O stdout bytes | E stderr bytes |
 *        X "<nonce> exit|signal <n> <user_us> <sys_us> <maxrss_kb>" (the end)
 * Built static (gcc -static -O2) by scripts/build-image.sh; see src/sandbox/launch-protocol.ts.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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
    switch (h[0]) {
      case 'N': nonce = data; break;
      case 'F': add(files, &nfiles, data, len); break;
      case 'A': add(argv_items, &nargs, data, len); break;
      case 'E': add(env_items, &nenv, data, len); break;
      case 'I': {
        char *b = realloc(stdin_buf, stdin_len + len + 1);
        if (!b) die("out of memory");
        memcpy(b + stdin_len, data, len);
        stdin_buf = b;
        stdin_len += len;
        free(data);
        break;
      }
      case 'G': free(data); return;
      default: die("unknown frame type %d", h[0]);
    }
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
  }
  return NULL;
}

/* The program's stdin: an in-memory file holding the request's bytes, read from the start. */
static int stdin_fd(void) {
  int fd = (int)syscall(SYS_memfd_create, "stdin", 0);
  if (fd < 0) fd = open("/tmp", O_TMPFILE | O_RDWR, 0600);
  if (fd < 0) return open("/dev/null", O_RDONLY);
  if (stdin_len && write_all(fd, stdin_buf, stdin_len) < 0) return -1;
  lseek(fd, 0, SEEK_SET);
  return fd;
}

/* The sandbox's environment with the request's on top (a request entry replaces a same name). */
static char **child_env(void) {
  size_t n = 0;
  while (environ[n]) n++;
  char **env = calloc(n + (size_t)nenv + 1, sizeof *env);
  if (!env) die("out of memory");
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const char *eq = strchr(environ[i], '=');
    size_t nl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
    int replaced = 0;
    for (int j = 0; j < nenv && !replaced; j++) replaced = strncmp(env_items[j].data, environ[i], nl) == 0 && env_items[j].data[nl] == '=';
    if (!replaced) env[k++] = environ[i];
  }
  for (int j = 0; j < nenv; j++) env[k++] = env_items[j].data;
  env[k] = NULL;
  return env;
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

/* Every process but this one: what the program left behind ends with it. */
static void kill_others(void) {
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
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_IGN);
  static const char ready[] = "kx-launch 1";
  send_frame('R', ready, sizeof ready - 1);

  read_request();
  if (!nonce || nargs == 0) die("a request without its nonce or program");
  send_frame('S', nonce, (uint32_t)strlen(nonce));

  char msg[4600];
  const char *bad = write_files(msg, sizeof msg);
  int out[2], err[2];
  if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) die("pipe: %s", strerror(errno));
  int in = stdin_fd();
  if (in < 0) die("stdin: %s", strerror(errno));
  char **argv = calloc((size_t)nargs + 1, sizeof *argv);
  if (!argv) die("out of memory");
  for (int i = 0; i < nargs; i++) argv[i] = argv_items[i].data;
  char **env = child_env();

  struct sigaction sa = {0};
  sa.sa_handler = on_child;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);

  pid_t child = bad ? -1 : fork();
  if (child < 0 && !bad) {
    snprintf(msg, sizeof msg, "fork: %s", strerror(errno));
    bad = msg;
  }
  if (child == 0) {
    /* The program: fresh stdio, no descriptor of ours, default signals. */
    if (dup2(in, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) _exit(126);
    close_inherited();
    signal(SIGPIPE, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    /* Under memory pressure the kernel picks the program, never the launcher. */
    int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (oom >= 0) {
      (void)write(oom, "1000", 4);
      close(oom);
    }
    /* The program's user, for good: every capability goes with root (no keep-caps, no new privileges). */
    if (switch_user && (setgroups(1, &prog_gid) < 0 || setresgid(prog_gid, prog_gid, prog_gid) < 0 || setresuid(prog_uid, prog_uid, prog_uid) < 0)) {
      dprintf(2, "kx-launch: becoming %u:%u: %s\n", (unsigned)prog_uid, (unsigned)prog_gid, strerror(errno));
      _exit(126);
    }
    if (chdir(WORKDIR) < 0) _exit(126);
    execve(argv[0], argv, env);
    if (!strchr(argv[0], '/')) execvpe(argv[0], argv, env);
    dprintf(2, "kx-launch: %s: %s\n", argv[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }
  close(out[1]);
  close(err[1]);
  close(in);

  if (bad) {
    /* The program could not be started: its stderr says why, as a shell's would. */
    char line[4700];
    int n = snprintf(line, sizeof line, "kx-launch: %s\n", bad);
    send_frame('E', line, (uint32_t)(n < (int)sizeof line ? n : (int)sizeof line - 1));
    char end[200];
    n = snprintf(end, sizeof end, "%s exit 126 0 0 0", nonce);
    send_frame('X', end, (uint32_t)n);
    await_ack();
    return 0;
  }

  struct pollfd p[3] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {sig_pipe[0], POLLIN, 0}};
  char buf[65536];
  int status = 0, done = 0;
  struct rusage ru = {0};
  int64_t drain_until = 0;
  while (p[0].fd >= 0 || p[1].fd >= 0 || !done) {
    int timeout = -1;
    if (done) {
      int64_t left = drain_until - now_ms();
      if (left <= 0) break;
      timeout = (int)left;
    }
    int r = poll(p, 3, timeout);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("poll: %s", strerror(errno));
    }
    for (int i = 0; i < 2; i++) {
      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(p[i].fd, buf, sizeof buf);
      if (n > 0) {
        send_frame(i == 0 ? 'O' : 'E', buf, (uint32_t)n);
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(p[i].fd);
        p[i].fd = -1;
      }
    }
    if (p[2].revents & POLLIN) {
      while (read(sig_pipe[0], buf, sizeof buf) > 0) {
      }
      for (;;) {
        int st;
        struct rusage r1;
        pid_t w = wait4(-1, &st, WNOHANG, &r1);
        if (w <= 0) break;
        if (w == child && !done) {
          status = st;
          ru = r1;
          done = 1;
          /* What the program left ends now; its last bytes are read for a moment more. */
          kill_others();
          drain_until = now_ms() + 2000;
        }
      }
    }
  }
  kill_others();

  char end[300];
  int n;
  long long user_us = (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
  long long sys_us = (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
  if (WIFSIGNALED(status)) {
    n = snprintf(end, sizeof end, "%s signal %d %lld %lld %ld", nonce, WTERMSIG(status), user_us, sys_us, ru.ru_maxrss);
  } else {
    n = snprintf(end, sizeof end, "%s exit %d %lld %lld %ld", nonce, WEXITSTATUS(status), user_us, sys_us, ru.ru_maxrss);
  }
  send_frame('X', end, (uint32_t)n);
  await_ack();
  return 0;
}
#include "kx-session.c"
