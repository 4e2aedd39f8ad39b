/*
 * kx-launch's session mode (included at the end of kx-launch.c, built with it).
 *
 *   kx-launch --session [--user UID:GID] [--expires EPOCH_MS] [--idle-ms MS]
 *                                          a session sandbox's init (pid 1): serves many
 *                                          requests, one at a time, on a unix socket; at
 *                                          EPOCH_MS, or MS after its last request, it ends
 *                                          every process and itself (the sandbox with it)
 *   kx-launch --attach                     the service's way in: started with `ctr tasks
 *                                          exec`, it relays its stdin to the socket and the
 *                                          socket to its stdout
 *
 * The socket lives in a directory only the launcher's user may enter (/run/kx-launch, 0700;
 * /tmp/.kx-launch when /run is not writable by it). Once the launcher runs as root and the
 * program as another user, a program cannot connect to it. The newest connection wins: a
 * service that restarted attaches again, and the launcher ends the attach process of the
 * one before (its ctr client died with it, and the shim never ends its stdin).
 *
 * A request, in frames (as in one-shot mode): N nonce, then either the one-shot frames
 * (F, A, E, I, or M and steps P A* E* I*, then G: run a program or steps), or Q op and the
 * op's frames, then G:
 *   run        (no Q) the program, or its steps (a compile, then tests), by the one-shot
 *              mode's own code (run_one, run_steps), each step held to its limits by the
 *              launcher; the request's files are written first, by a child as the
 *              program's user, through no link. Its processes end with it, except
 *              background ones, which neither count in a step's CPU time or memory nor are
 *              killed by its limits. While it runs, K from the service ends the call (the
 *              deadline, the output cap, the caller gone): its step is killed and has its D,
 *              and no further step runs. Answers S, O*, E* (B, D per step), X as in one-shot
 *              mode.
 *   put        P path, D bytes*  (the file is replaced; parents made)
 *   get        P path, M max     answers D* then Y "<nonce> ok file|dir"
 *   tar        P path, M max     a ustar archive of the directory (links as links)
 *   list       P path, R?        entries "type\tsize\tmtime\tpath\0"; R: recursive
 *   delete     P path            a file, a link, or a directory with all it holds
 *   bg         A*, E*, P logfile? a background process: answers Y "<nonce> ok <id> <pid>"
 *   bglist                       "id\tpid\tstate\tcode\tcommand\0" per process
 *   bgstop     P id
 *   deadline   P ms              the next run is ended this long after now, service or not
 *   ping                         answers Y "<nonce> ok steps": what it can do (a launcher
 *                                that answers a bare "ok" runs no steps)
 * Every op but run answers Y "<nonce> ok ..." or Z "<nonce> <ERRNO> <text>".
 *
 * Paths are relative to the workspace (/code) and walked one component at a time with
 * openat(O_NOFOLLOW): a symbolic link anywhere on the way is refused (ELOOP), never
 * followed, so nothing outside the workspace is ever read or written for the service.
 * File ops run in a child process under the program's user: they can touch only what the
 * program itself could.
 */
#include <fnmatch.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/un.h>

#define KXS_HELLO "kx-session 1"
/* What `ping` answers this launcher can do beyond protocol 1: `steps` (a run may carry P
   frames: a compile, tests). A launcher without it answers a bare "ok". */
#define KXS_CAPS "steps"
#define KXS_DIR "/run/kx-launch"
#define KXS_DIR_FALLBACK "/tmp/.kx-launch"
#define KXS_MAX_BG 32
#define KXS_MAX_LIST 4096
#define KXS_MAX_DEPTH 32

static int kxs_conn = -1, kxs_listen_fd = -1;
static pid_t kxs_attach_pid = -1, kxs_attach_pid2 = -1;
static char kxs_sock[96];

struct kxs_bg {
  int id;
  pid_t keeper;
  int running;
  int status;
};
static struct kxs_bg kxs_bgs[KXS_MAX_BG];
static int kxs_next_bg = 1;
/*
 * The session's own bounds, in wall-clock ms (0: none): its maximum lifetime, and its idle
 * time past which it ends by itself (the service's idle timeout plus a grace), so that a
 * sandbox never outlives its session when no service is there to reap it.
 */
static int64_t kxs_expires_at, kxs_idle_ms, kxs_last_request;
/* The next call's own deadline (monotonic ms, 0: none), from a `deadline` op: a call whose
   service went away is still ended at its time. The running call's, once it began. */
static int64_t kxs_next_deadline, kxs_call_deadline;

/* A frame to the service; -1 when the connection is gone (never fatal: pid 1 must live). */
static int kxs_send(char type, const void *data, uint32_t len) {
  if (kxs_conn < 0) return -1;
  unsigned char h[5] = {(unsigned char)type, (unsigned char)(len >> 24), (unsigned char)(len >> 16), (unsigned char)(len >> 8), (unsigned char)len};
  if (write_all(kxs_conn, h, 5) < 0 || (len && write_all(kxs_conn, data, len) < 0)) return -1;
  return 0;
}

static int kxs_sendf(char type, const char *fmt, ...) {
  char buf[8192];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return -1;
  if (n >= (int)sizeof buf) n = sizeof buf - 1;
  return kxs_send(type, buf, (uint32_t)n);
}

/* One frame from the service; 1 read, 0 end of stream, -1 error or too large. */
static int kxs_read_frame(int fd, char *type, char **data, uint32_t *len, uint32_t max) {
  unsigned char h[5];
  int r = read_all(fd, h, 5);
  if (r <= 0) return r;
  *type = (char)h[0];
  *len = ((uint32_t)h[1] << 24) | ((uint32_t)h[2] << 16) | ((uint32_t)h[3] << 8) | h[4];
  if (*len > max) return -1;
  *data = malloc((size_t)*len + 1);
  if (!*data) return -1;
  if (*len && read_all(fd, *data, *len) != 1) {
    free(*data);
    return -1;
  }
  (*data)[*len] = '\0';
  return 1;
}

static const char *kxs_errname(int e) {
  switch (e) {
    case ENOENT: return "ENOENT";
    case ELOOP: return "ELOOP";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case ENOSPC: return "ENOSPC";
    case EDQUOT: return "ENOSPC";
    case EFBIG: return "EFBIG";
    case EEXIST: return "EEXIST";
    case EACCES: return "EACCES";
    case EPERM: return "EACCES";
    case EINVAL: return "EINVAL";
    case ENOTEMPTY: return "ENOTEMPTY";
    case ENAMETOOLONG: return "EINVAL";
    case E2BIG: return "E2BIG";
    case ESRCH: return "ESRCH";
    default: return "EIO";
  }
}

static void kxs_fail(const char *nonce, int e, const char *what) {
  kxs_sendf('Z', "%s %s %s: %s", nonce, kxs_errname(e), what, strerror(e));
}

/* In a child: the program's user, when the launcher may switch to it. */
static void kxs_become_user(void) {
  if (become_program_user() < 0) _exit(125);
}

/* ELOOP when the thing at `last` is a link: the answer the service maps to "a link, refused". */
static int kxs_link_errno(int dirfd, const char *last, int e) {
  struct stat st;
  if ((e == ELOOP || e == ENOTDIR || e == EMLINK) && fstatat(dirfd, last, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) return ELOOP;
  return e;
}

/*
 * openat that never goes through a link, whatever the kernel does with O_NOFOLLOW (gVisor
 * follows a link with O_DIRECTORY | O_NOFOLLOW): what was opened must be what sits at that
 * name, and that must not be a link. The workspace is a filesystem of its own, so nothing
 * outside it can be hard-linked into it. No O_TRUNC here (it would act before the check).
 */
static int kxs_openat(int dir, const char *name, int flags, mode_t mode) {
  struct stat pre;
  /* A link is refused before anything is opened or created through it. */
  if (fstatat(dir, name, &pre, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(pre.st_mode)) {
    errno = ELOOP;
    return -1;
  }
  int fd = openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) {
    errno = kxs_link_errno(dir, name, errno);
    return -1;
  }
  struct stat l, f;
  if (fstatat(dir, name, &l, AT_SYMLINK_NOFOLLOW) < 0 || fstat(fd, &f) < 0 || S_ISLNK(l.st_mode) || l.st_dev != f.st_dev || l.st_ino != f.st_ino) {
    close(fd);
    errno = ELOOP;
    return -1;
  }
  return fd;
}

/*
 * Walks `path` (relative, already checked) below the workspace without following links.
 * Returns the directory that holds the last component, with that component in *last;
 * `mk`: make missing directories on the way. -1 and errno on failure.
 */
static int kxs_walk(char *path, char **last, int mk) {
  int dir = open(WORKDIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir < 0) return -1;
  char *s = path;
  for (;;) {
    char *e = strchr(s, '/');
    if (!e) break;
    *e = '\0';
    int next = kxs_openat(dir, s, O_RDONLY | O_DIRECTORY, 0);
    if (next < 0 && errno == ENOENT && mk) {
      if (mkdirat(dir, s, 0755) < 0 && errno != EEXIST) {
        int k = errno;
        close(dir);
        errno = k;
        return -1;
      }
      next = kxs_openat(dir, s, O_RDONLY | O_DIRECTORY, 0);
    }
    int k = errno;
    *e = '/';
    close(dir);
    if (next < 0) {
      errno = k;
      return -1;
    }
    dir = next;
    s = e + 1;
  }
  *last = s;
  return dir;
}

/* "" or "." means the workspace itself. Returns an fd of the directory at `path`, nofollow. */
static int kxs_open_dir(char *path) {
  if (path[0] == '\0' || strcmp(path, ".") == 0) return open(WORKDIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  char *last;
  int parent = kxs_walk(path, &last, 0);
  if (parent < 0) return -1;
  int fd = kxs_openat(parent, last, O_RDONLY | O_DIRECTORY, 0);
  int k = errno;
  close(parent);
  errno = k;
  return fd;
}

static int kxs_check_path(const char *nonce, const char *path, int allow_root) {
  if (allow_root && (path[0] == '\0' || strcmp(path, ".") == 0)) return 0;
  if (strlen(path) > 4096 || !safe_path(path)) {
    kxs_sendf('Z', "%s EINVAL not a relative path below the workspace", nonce);
    return -1;
  }
  return 0;
}

/* put: P path, D*, G. Runs as the user; reads the rest of the request itself. */
static void kxs_op_put(const char *nonce, char *path) {
  if (kxs_check_path(nonce, path, 0) < 0) goto drain;
  char *last;
  int dir = kxs_walk(path, &last, 1);
  if (dir < 0) {
    kxs_fail(nonce, errno, "walking to the file");
    goto drain;
  }
  int fd = kxs_openat(dir, last, O_WRONLY | O_CREAT | O_NONBLOCK, 0644);
  if (fd < 0) {
    kxs_fail(nonce, errno, "opening the file");
    close(dir);
    goto drain;
  }
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || ftruncate(fd, 0) < 0) {
    kxs_fail(nonce, EINVAL, "not a regular file");
    close(fd);
    close(dir);
    goto drain;
  }
  int bad = 0;
  for (;;) {
    char t;
    char *d;
    uint32_t n;
    if (kxs_read_frame(0, &t, &d, &n, MAX_FRAME) != 1) _exit(4);
    if (t == 'G') {
      free(d);
      break;
    }
    if (t == 'D' && !bad && write_all(fd, d, n) < 0) bad = errno;
    free(d);
  }
  if (!bad && close(fd) < 0) bad = errno;
  if (bad) {
    /* What was written is removed: a half file is worse than none. */
    unlinkat(dir, last, 0);
    close(dir);
    kxs_fail(nonce, bad, "writing the file");
  } else {
    close(dir);
    kxs_sendf('Y', "%s ok", nonce);
  }
  return;
drain:
  for (;;) {
    char t;
    char *d;
    uint32_t n;
    if (kxs_read_frame(0, &t, &d, &n, MAX_FRAME) != 1) _exit(4);
    free(d);
    if (t == 'G') return;
  }
}

static int kxs_send_fd(int fd, uint64_t max, uint64_t *sent) {
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) return 0;
    if (*sent + (uint64_t)n > max) {
      errno = EFBIG;
      return -1;
    }
    *sent += (uint64_t)n;
    if (kxs_send('D', buf, (uint32_t)n) < 0) _exit(4);
  }
}

/* The ustar archive of a directory: files, directories, links (as links). */
struct kxs_tar {
  uint64_t max, sent;
  int entries;
};

/* n-1 octal digits and a NUL (a value too large for them keeps its low digits). */
static void kxs_octal(char *dst, size_t n, uint64_t v) {
  dst[n - 1] = '\0';
  for (size_t i = n - 1; i-- > 0; v >>= 3) dst[i] = (char)('0' + (v & 7));
}

static int kxs_tar_block(struct kxs_tar *t, const void *b, size_t n) {
  if (t->sent + n > t->max) {
    errno = EFBIG;
    return -1;
  }
  t->sent += n;
  if (kxs_send('D', b, (uint32_t)n) < 0) _exit(4);
  return 0;
}

static int kxs_tar_header(struct kxs_tar *t, const char *name, char type, uint64_t size, mode_t mode, time_t mtime, const char *link) {
  char h[512];
  size_t nl = strlen(name);
  if (nl > 99 || (link && strlen(link) > 99)) {
    /* GNU long name (and long link): a pseudo entry carrying the whole string. */
    const char *longs[2] = {nl > 99 ? name : NULL, link && strlen(link) > 99 ? link : NULL};
    char kinds[2] = {'L', 'K'};
    for (int i = 0; i < 2; i++) {
      if (!longs[i]) continue;
      size_t l = strlen(longs[i]) + 1;
      memset(h, 0, sizeof h);
      strcpy(h, "././@LongLink");
      kxs_octal(h + 100, 8, 0644);
      kxs_octal(h + 108, 8, 0);
      kxs_octal(h + 116, 8, 0);
      kxs_octal(h + 124, 12, l);
      kxs_octal(h + 136, 12, 0);
      h[156] = kinds[i];
      memcpy(h + 257, "ustar  ", 8);
      memset(h + 148, ' ', 8);
      unsigned sum = 0;
      for (int j = 0; j < 512; j++) sum += (unsigned char)h[j];
      snprintf(h + 148, 8, "%06o", sum);
      if (kxs_tar_block(t, h, 512) < 0) return -1;
      for (size_t off = 0; off < l; off += 512) {
        char b[512] = {0};
        memcpy(b, longs[i] + off, l - off < 512 ? l - off : 512);
        if (kxs_tar_block(t, b, 512) < 0) return -1;
      }
    }
  }
  memset(h, 0, sizeof h);
  memcpy(h, name, nl > 99 ? 99 : nl);
  kxs_octal(h + 100, 8, mode & 07777);
  kxs_octal(h + 108, 8, 0);
  kxs_octal(h + 116, 8, 0);
  kxs_octal(h + 124, 12, size);
  kxs_octal(h + 136, 12, (uint64_t)(mtime > 0 ? mtime : 0));
  h[156] = type;
  if (link) memcpy(h + 157, link, strlen(link) > 99 ? 99 : strlen(link));
  memcpy(h + 257, "ustar  ", 8);
  memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (int j = 0; j < 512; j++) sum += (unsigned char)h[j];
  snprintf(h + 148, 8, "%06o", sum);
  return kxs_tar_block(t, h, 512);
}

static int kxs_tar_dir(struct kxs_tar *t, int dfd, const char *prefix, int depth) {
  if (depth > KXS_MAX_DEPTH) return 0;
  DIR *d = fdopendir(dfd);
  if (!d) return -1;
  struct dirent *e;
  int rc = 0;
  while (rc == 0 && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (++t->entries > 100000) break;
    char name[4200];
    snprintf(name, sizeof name, "%s%s", prefix, e->d_name);
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
    if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof target - 1);
      if (n < 0) continue;
      target[n] = '\0';
      rc = kxs_tar_header(t, name, '2', 0, 0777, st.st_mtime, target);
    } else if (S_ISDIR(st.st_mode)) {
      int sub = kxs_openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY, 0);
      if (sub < 0) continue;
      strcat(name, "/");
      rc = kxs_tar_header(t, name, '5', 0, st.st_mode, st.st_mtime, NULL);
      if (rc == 0) rc = kxs_tar_dir(t, sub, name, depth + 1);
      else close(sub);
    } else if (S_ISREG(st.st_mode)) {
      int fd = kxs_openat(dirfd(d), e->d_name, O_RDONLY | O_NONBLOCK, 0);
      if (fd < 0) continue;
      struct stat fs;
      if (fstat(fd, &fs) < 0 || !S_ISREG(fs.st_mode)) {
        close(fd);
        continue;
      }
      rc = kxs_tar_header(t, name, '0', (uint64_t)fs.st_size, fs.st_mode, fs.st_mtime, NULL);
      /* Exactly the size in the header: a file that grows is cut, one that shrinks padded. */
      uint64_t left = (uint64_t)fs.st_size;
      char buf[65536];
      while (rc == 0 && left > 0) {
        ssize_t n = read(fd, buf, left < sizeof buf ? left : sizeof buf);
        if (n <= 0) {
          memset(buf, 0, sizeof buf);
          n = (ssize_t)(left < sizeof buf ? left : sizeof buf);
        }
        rc = kxs_tar_block(t, buf, (size_t)n);
        left -= (uint64_t)n;
      }
      size_t pad = (size_t)((512 - fs.st_size % 512) % 512);
      if (rc == 0 && pad) {
        char z[512] = {0};
        rc = kxs_tar_block(t, z, pad);
      }
      close(fd);
    }
  }
  closedir(d);
  return rc;
}

static void kxs_op_get(const char *nonce, char *path, uint64_t max, int tar_only) {
  int fd;
  char *last = NULL;
  int parent = -1;
  if (path[0] == '\0' || strcmp(path, ".") == 0) {
    fd = open(WORKDIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  } else {
    if (kxs_check_path(nonce, path, 0) < 0) return;
    parent = kxs_walk(path, &last, 0);
    if (parent < 0) return kxs_fail(nonce, errno, "walking to the path");
    fd = kxs_openat(parent, last, O_RDONLY | O_NONBLOCK, 0);
  }
  if (fd < 0) return kxs_fail(nonce, errno, "opening the path");
  struct stat st;
  if (fstat(fd, &st) < 0) return kxs_fail(nonce, errno, "stat");
  if (S_ISDIR(st.st_mode)) {
    struct kxs_tar t = {max, 0, 0};
    if (kxs_tar_dir(&t, fd, "", 0) < 0) return kxs_fail(nonce, errno, "archiving the directory");
    char z[1024] = {0};
    if (kxs_tar_block(&t, z, sizeof z) < 0) return kxs_fail(nonce, errno, "archiving the directory");
    kxs_sendf('Y', "%s ok dir", nonce);
    return;
  }
  if (tar_only) return kxs_fail(nonce, ENOTDIR, "not a directory");
  if (!S_ISREG(st.st_mode)) return kxs_fail(nonce, EINVAL, "not a regular file");
  if ((uint64_t)st.st_size > max) return kxs_fail(nonce, EFBIG, "the file is larger than the limit");
  uint64_t sent = 0;
  if (kxs_send_fd(fd, max, &sent) < 0) return kxs_fail(nonce, errno, "reading the file");
  kxs_sendf('Y', "%s ok file", nonce);
}

struct kxs_list {
  char *buf;
  size_t len, cap;
  int count, truncated;
};

static void kxs_list_add(struct kxs_list *l, const char *line, size_t n) {
  if (l->count >= KXS_MAX_LIST) {
    l->truncated = 1;
    return;
  }
  if (l->len + n > l->cap) {
    size_t cap = (l->cap ? l->cap * 2 : 65536) + n;
    char *b = realloc(l->buf, cap);
    if (!b) _exit(5);
    l->buf = b;
    l->cap = cap;
  }
  memcpy(l->buf + l->len, line, n);
  l->len += n;
  l->count++;
}

static void kxs_list_dir(struct kxs_list *l, int dfd, const char *prefix, int recursive, int depth) {
  DIR *d = fdopendir(dfd);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d)) && !l->truncated) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
    const char *type = S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "dir" : S_ISLNK(st.st_mode) ? "symlink" : "other";
    char line[4400];
    int n = snprintf(line, sizeof line, "%s\t%lld\t%lld\t%s%s", type, (long long)st.st_size, (long long)st.st_mtime, prefix, e->d_name);
    if (n < 0 || n >= (int)sizeof line) continue;
    kxs_list_add(l, line, (size_t)n + 1);
    if (recursive && S_ISDIR(st.st_mode) && depth < KXS_MAX_DEPTH) {
      int sub = kxs_openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY, 0);
      if (sub < 0) continue;
      char p[4300];
      snprintf(p, sizeof p, "%s%s/", prefix, e->d_name);
      kxs_list_dir(l, sub, p, recursive, depth + 1);
    }
  }
  closedir(d);
}

static void kxs_op_list(const char *nonce, char *path, int recursive) {
  if (kxs_check_path(nonce, path, 1) < 0) return;
  int fd = kxs_open_dir(path);
  if (fd < 0) return kxs_fail(nonce, errno, "opening the directory");
  struct kxs_list l = {0};
  kxs_list_dir(&l, fd, "", recursive, 0);
  char head[200];
  int n = snprintf(head, sizeof head, "%s ok %d\n", nonce, l.truncated);
  char *all = malloc(l.len + (size_t)n);
  if (!all) _exit(5);
  memcpy(all, head, (size_t)n);
  if (l.len) memcpy(all + n, l.buf, l.len);
  if (kxs_send('Y', all, (uint32_t)(l.len + (size_t)n)) < 0) _exit(4);
}

/* Removes what is at `name` in dfd: a link itself (never its target), a directory's tree. */
static int kxs_remove(int dfd, const char *name, int depth) {
  if (unlinkat(dfd, name, 0) == 0) return 0;
  if (errno != EISDIR && errno != EPERM) return -1;
  if (depth > KXS_MAX_DEPTH) {
    errno = ELOOP;
    return -1;
  }
  int sub = kxs_openat(dfd, name, O_RDONLY | O_DIRECTORY, 0);
  if (sub < 0) return -1;
  DIR *d = fdopendir(sub);
  if (!d) return -1;
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (kxs_remove(dirfd(d), e->d_name, depth + 1) < 0) rc = -1;
  }
  closedir(d);
  if (rc < 0) return -1;
  return unlinkat(dfd, name, AT_REMOVEDIR);
}

static void kxs_op_delete(const char *nonce, char *path) {
  if (kxs_check_path(nonce, path, 0) < 0) return;
  char *last;
  int parent = kxs_walk(path, &last, 0);
  if (parent < 0) return kxs_fail(nonce, errno, "walking to the path");
  if (kxs_remove(parent, last, 0) < 0) return kxs_fail(nonce, errno, "removing");
  kxs_sendf('Y', "%s ok", nonce);
}

/* ---- processes ---- */

/* The parent of each process (from /proc/PID/stat), for the ancestry walks below. */
static pid_t kxs_ppid(pid_t pid) {
  char p[64], buf[512];
  snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  char *rp = strrchr(buf, ')');
  if (!rp) return -1;
  char st;
  int ppid;
  if (sscanf(rp + 1, " %c %d", &st, &ppid) != 2) return -1;
  return (pid_t)ppid;
}

/*
 * A background keeper (a subreaper) or one of its descendants: these outlive calls. 1: spared;
 * 0: the call's; -1: its ancestry could not be read (it may be ending): asked again next round.
 */
static int kxs_protected(pid_t pid) {
  if (pid == 1 || pid == getpid() || pid == kxs_attach_pid || pid == kxs_attach_pid2) return 1;
  for (int depth = 0; pid > 1 && depth < 4096; depth++) {
    for (int i = 0; i < KXS_MAX_BG; i++)
      if (kxs_bgs[i].running && kxs_bgs[i].keeper == pid) return 1;
    pid_t up = kxs_ppid(pid);
    if (up < 0) return -1;
    pid = up;
  }
  return 0;
}

static void kxs_accept(int listen_fd);

static int64_t kxs_wall_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The poll timeout that wakes us at the session's end (capped, so a clock change is seen). */
static int kxs_expiry_timeout(int timeout) {
  if (!kxs_expires_at && !kxs_idle_ms) return timeout;
  return timeout < 0 || timeout > 1000 ? 1000 : timeout;
}

/* Past its end: every process of the sandbox ends, the launcher too, and the sandbox with it. */
static void kxs_check_expiry(int in_call) {
  int64_t now = kxs_wall_ms();
  int over = (kxs_expires_at && now >= kxs_expires_at) || (kxs_idle_ms && !in_call && now - kxs_last_request >= kxs_idle_ms);
  if (!over) return;
  for (int i = 0; i < KXS_MAX_BG; i++) kxs_bgs[i].running = 0;
  kxs_attach_pid = kxs_attach_pid2 = -1;
  kxs_kill_call();
  _exit(0);
}

/* Every process of the sandbox but the launcher, its attach process and the background ones. */
static void kxs_kill_call(void) {
  for (int round = 0; round < 50; round++) {
    int found = 0;
    DIR *d = opendir("/proc");
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
      char *end;
      long pid = strtol(e->d_name, &end, 10);
      if (*end || pid <= 1) continue;
      int p = kxs_protected((pid_t)pid);
      if (p == -1 && round < 10) found = 1;
      if (p != 0 && !(p == -1 && round >= 10)) continue;
      if (kill((pid_t)pid, SIGKILL) == 0) found = 1;
    }
    closedir(d);
    reap();
    if (!found) return;
    usleep(2000);
  }
}

/* reap() found `pid` ended: a background keeper's status is kept. 1: it was one (not the call's). */
static int kxs_reaped(pid_t pid, int status) {
  for (int i = 0; i < KXS_MAX_BG; i++) {
    if (kxs_bgs[i].running && kxs_bgs[i].keeper == pid) {
      kxs_bgs[i].running = 0;
      kxs_bgs[i].status = status;
      return 1;
    }
  }
  return 0;
}

static char **kxs_env_of(struct item *env, int n) {
  int save = nenv;
  nenv = n;
  for (int i = 0; i < n; i++) env_items[i] = env[i];
  char **r = child_env();
  nenv = save;
  return r;
}

/* A file of the run request, written as the user (in the program's child, before exec). */
static int kxs_write_run_file(struct item *f) {
  if (f->len < 4) return -1;
  uint32_t plen = ((uint32_t)(unsigned char)f->data[0] << 24) | ((uint32_t)(unsigned char)f->data[1] << 16) | ((uint32_t)(unsigned char)f->data[2] << 8) |
                  (unsigned char)f->data[3];
  if (plen == 0 || plen > f->len - 4 || plen > 4096) return -1;
  char path[4200];
  memcpy(path, f->data + 4, plen);
  path[plen] = '\0';
  if (memchr(f->data + 4, '\0', plen) || !safe_path(path)) {
    errno = EINVAL;
    return -1;
  }
  char *last;
  int dir = kxs_walk(path, &last, 1);
  if (dir < 0) return -1;
  int fd = kxs_openat(dir, last, O_WRONLY | O_CREAT, 0644);
  close(dir);
  if (fd >= 0 && ftruncate(fd, 0) < 0) {
    close(fd);
    fd = -1;
  }
  if (fd < 0 || write_all(fd, f->data + 4 + plen, f->len - 4 - plen) < 0 || close(fd) < 0) return -1;
  return 0;
}

/*
 * The request's files, written under the workspace by a child as the program's user, through
 * no link (kxs_walk), replacing what is there. NULL, or why they could not be.
 */
static const char *kxs_write_files(char *msg, size_t msgsz) {
  if (nfiles == 0) return NULL;
  pid_t c = fork();
  if (c < 0) {
    snprintf(msg, msgsz, "fork: %s", strerror(errno));
    return msg;
  }
  if (c == 0) {
    signal(SIGCHLD, SIG_DFL);
    if (become_program_user() < 0) _exit(125);
    for (int i = 0; i < nfiles; i++)
      if (kxs_write_run_file(&files[i]) < 0) _exit(errno > 0 && errno < 125 ? errno : EIO);
    _exit(0);
  }
  int st = 0;
  while (waitpid(c, &st, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return NULL;
  int code = WIFEXITED(st) ? WEXITSTATUS(st) : 0;
  snprintf(msg, msgsz, "writing a file of the request: %s", code && code < 125 ? strerror(code) : "the program's user could not");
  return msg;
}

/* While a call runs, the launcher also listens to the service (K, or the end of its
   connection) and to its socket (a newer attach): run_program polls these too. */
static int kxs_call_fds(struct pollfd *p) {
  p[0] = (struct pollfd){kxs_conn, POLLIN, 0};
  p[1] = (struct pollfd){kxs_listen_fd, POLLIN, 0};
  return 2;
}

/* How long run_program may wait: no later than the call's deadline or a look at the session's end. */
static int kxs_call_timeout(int timeout) {
  if (kxs_call_deadline) {
    int64_t left = kxs_call_deadline - now_ms();
    if (left < 0) left = 0;
    if (timeout < 0 || left < timeout) timeout = (int)(left > 1000 ? 1000 : left);
  }
  return kxs_expiry_timeout(timeout);
}

/*
 * What happened while a call runs (p: its kxs_call_fds after poll). The call is over (its
 * processes killed, no further step) at K from the service, at its own deadline (the service
 * did not end it: it is gone), when its connection ends, or when a newer service attaches:
 * then the call's client is gone, and nothing more of it is sent to anyone. The new attach
 * process is taken in (and so spared) before the call's processes are ended.
 */
static void kxs_call_events(struct pollfd *p) {
  kxs_check_expiry(1);
  if (kxs_call_deadline && now_ms() >= kxs_call_deadline) {
    kxs_call_deadline = 0;
    call_over = 1;
  }
  if (p[0].fd >= 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
    char kt;
    char *kd;
    uint32_t kn;
    if (kxs_read_frame(kxs_conn, &kt, &kd, &kn, 4096) != 1) {
      p[0].fd = -1;
      close(kxs_conn);
      kxs_conn = -1;
      call_abandoned = call_over = 1;
    } else {
      if (kt == 'K') call_over = 1;
      free(kd);
    }
  }
  if (p[1].revents & POLLIN) {
    kxs_accept(kxs_listen_fd);
    p[0].fd = -1;
    call_abandoned = call_over = 1;
  }
}

/*
 * run: the rest of the request is the one-shot's frames (the first already read): one
 * program, or steps (a compile, tests), run by the one-shot's own code (run_one, run_steps)
 * with the session's hooks, answered with the same frames. Its processes end with it,
 * background ones aside.
 */
static void kxs_op_run(char *call_nonce, char ftype, char *fdata, uint32_t flen) {
  forget_request();
  nonce = call_nonce;
  size_t total = flen;
  char t = ftype;
  char *d = fdata;
  uint32_t n = flen;
  while (!request_frame(t, d, n)) {
    int r = kxs_read_frame(kxs_conn, &t, &d, &n, MAX_FRAME);
    if (r == 1 && (total += n) > MAX_TOTAL) free(d);
    if (r != 1 || total > MAX_TOTAL) {
      close(kxs_conn);
      kxs_conn = -1;
      forget_request();
      nonce = NULL;
      return;
    }
  }
  const char *problem = request_problem();
  if (problem) {
    kxs_sendf('Z', "%s EINVAL %s", call_nonce, problem);
  } else {
    kxs_call_deadline = kxs_next_deadline;
    call_over = call_abandoned = 0;
    if (kxs_sendf('S', "%s", call_nonce) == 0) {
      char msg[4600];
      const char *bad = kxs_write_files(msg, sizeof msg);
      /* Not held while the program runs (a child forked now would start with them resident). */
      for (int i = 0; i < nfiles; i++) free(files[i].data);
      nfiles = 0;
      char end[400];
      int en = nsteps > 0 ? run_steps(bad, end, sizeof end) : run_one(bad, end, sizeof end);
      if (!call_abandoned) kxs_send('X', end, (uint32_t)en);
    }
  }
  kxs_next_deadline = kxs_call_deadline = 0;
  forget_request();
  nonce = NULL;
}

/* bg: A*, E*, P logfile?, G. The keeper is a subreaper: whatever the process starts stays below it. */
static void kxs_op_bg(const char *nonce) {
  struct item args[256], env[256];
  int na = 0, ne = 0;
  char *logp = NULL;
  for (;;) {
    char t;
    char *d;
    uint32_t n;
    if (kxs_read_frame(kxs_conn, &t, &d, &n, MAX_FRAME) != 1) {
      close(kxs_conn);
      kxs_conn = -1;
      return;
    }
    if (t == 'G') {
      free(d);
      break;
    }
    if (t == 'A' && na < 256) args[na++] = (struct item){d, n};
    else if (t == 'E' && ne < 256) env[ne++] = (struct item){d, n};
    else if (t == 'P' && !logp) logp = d;
    else free(d);
  }
  int slot = -1;
  for (int i = 0; i < KXS_MAX_BG && slot < 0; i++)
    if (kxs_bgs[i].keeper == 0 || !kxs_bgs[i].running) slot = i;
  if (na == 0) return (void)kxs_sendf('Z', "%s EINVAL a background process without its program", nonce);
  if (slot < 0) return (void)kxs_sendf('Z', "%s E2BIG already %d background processes", nonce, KXS_MAX_BG);
  if (logp && !safe_path(logp)) return (void)kxs_sendf('Z', "%s EINVAL the log file is not a relative path below the workspace", nonce);
  char **argv = calloc((size_t)na + 1, sizeof *argv);
  if (!argv) _exit(5);
  for (int i = 0; i < na; i++) argv[i] = args[i].data;
  char **cenv = kxs_env_of(env, ne);
  int report[2];
  if (pipe2(report, O_CLOEXEC) < 0) return kxs_fail(nonce, errno, "pipe");
  pid_t keeper = fork();
  if (keeper == 0) {
    close(report[0]);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    signal(SIGCHLD, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    kxs_become_user();
    int fd = -1;
    if (logp) {
      char *last;
      int dir = kxs_walk(logp, &last, 1);
      fd = dir < 0 ? -1 : kxs_openat(dir, last, O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd < 0) {
        int e = errno;
        (void)write(report[1], &e, sizeof e);
        _exit(126);
      }
    } else {
      fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    }
    pid_t prog = fork();
    if (prog == 0) {
      int nul = open("/dev/null", O_RDONLY);
      if (nul < 0 || dup2(nul, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) _exit(126);
      close_inherited();
      signal(SIGPIPE, SIG_DFL);
      setsid();
      if (chdir(WORKDIR) < 0) _exit(126);
      execve(argv[0], argv, cenv);
      if (!strchr(argv[0], '/')) execvpe(argv[0], argv, cenv);
      dprintf(2, "kx-launch: %s: %s\n", argv[0], strerror(errno));
      _exit(127);
    }
    int ok = 0;
    (void)write(report[1], &ok, sizeof ok);
    close(report[1]);
    close(fd);
    /* The process's status is the keeper's; the keeper lives until its last descendant. */
    int st = 0, main_st = 0;
    pid_t w;
    while ((w = wait(&st)) > 0 || (w < 0 && errno == EINTR))
      if (w == prog) main_st = st;
    if (WIFSIGNALED(main_st)) raise(WTERMSIG(main_st) == SIGKILL ? SIGKILL : SIGTERM);
    _exit(WIFEXITED(main_st) ? WEXITSTATUS(main_st) : 128);
  }
  close(report[1]);
  int e = 0;
  ssize_t got = keeper > 0 ? read(report[0], &e, sizeof e) : -1;
  close(report[0]);
  free(argv);
  free(cenv);
  for (int i = 0; i < na; i++) free(args[i].data);
  for (int i = 0; i < ne; i++) free(env[i].data);
  free(logp);
  if (keeper < 0) return kxs_fail(nonce, errno, "fork");
  if (got != sizeof e || e != 0) return kxs_fail(nonce, got == sizeof e ? e : EIO, "starting the background process");
  struct kxs_bg *b = &kxs_bgs[slot];
  b->id = kxs_next_bg++;
  b->keeper = keeper;
  b->running = 1;
  b->status = 0;
  kxs_sendf('Y', "%s ok %d %d", nonce, b->id, (int)keeper);
}

static void kxs_op_bglist(const char *nonce) {
  char out[KXS_MAX_BG * 64 + 200];
  int n = snprintf(out, sizeof out, "%s ok\n", nonce);
  for (int i = 0; i < KXS_MAX_BG; i++) {
    struct kxs_bg *b = &kxs_bgs[i];
    if (b->keeper == 0) continue;
    int code = b->running ? -1 : WIFEXITED(b->status) ? WEXITSTATUS(b->status) : 128 + WTERMSIG(b->status);
    n += snprintf(out + n, sizeof out - (size_t)n, "%d\t%d\t%s\t%d", b->id, (int)b->keeper, b->running ? "running" : "exited", code);
    out[n++] = '\0';
  }
  kxs_send('Y', out, (uint32_t)n);
}

/* Ends a background process: its keeper and every descendant of it. */
static void kxs_op_bgstop(const char *nonce, const char *idtext) {
  int id = atoi(idtext);
  for (int i = 0; i < KXS_MAX_BG; i++) {
    struct kxs_bg *b = &kxs_bgs[i];
    if (b->keeper == 0 || b->id != id) continue;
    if (b->running) {
      pid_t keeper = b->keeper;
      for (int round = 0; round < 50; round++) {
        int found = 0;
        DIR *d = opendir("/proc");
        if (!d) break;
        struct dirent *e;
        while ((e = readdir(d))) {
          char *end;
          long pid = strtol(e->d_name, &end, 10);
          if (*end || pid <= 1) continue;
          for (pid_t q = (pid_t)pid; q > 1; q = kxs_ppid(q)) {
            if (q == keeper) {
              if ((pid_t)pid != keeper && kill((pid_t)pid, SIGKILL) == 0) found = 1;
              break;
            }
          }
        }
        closedir(d);
        if (!found) break;
        usleep(2000);
      }
      kill(keeper, SIGKILL);
      int st;
      if (waitpid(keeper, &st, 0) == keeper) {
        b->running = 0;
        b->status = st;
      }
    }
    kxs_sendf('Y', "%s ok", nonce);
    return;
  }
  kxs_sendf('Z', "%s ENOENT no background process %d", nonce, id);
}

/* A file op in a child under the program's user; the connection is its stdin and stdout. */
static void kxs_in_child(const char *op, const char *nonce, char *path, uint64_t max, int recursive) {
  pid_t c = fork();
  if (c < 0) return kxs_fail(nonce, errno, "fork");
  if (c == 0) {
    signal(SIGCHLD, SIG_DFL);
    if (dup2(kxs_conn, 0) < 0) _exit(4);
    kxs_become_user();
    if (!strcmp(op, "put")) kxs_op_put(nonce, path);
    else if (!strcmp(op, "get")) kxs_op_get(nonce, path, max, 0);
    else if (!strcmp(op, "tar")) kxs_op_get(nonce, path, max, 1);
    else if (!strcmp(op, "list")) kxs_op_list(nonce, path, recursive);
    else if (!strcmp(op, "delete")) kxs_op_delete(nonce, path);
    _exit(0);
  }
  int st = 0;
  while (waitpid(c, &st, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    /* The op died mid-request: the stream cannot be trusted to be in step any more. */
    close(kxs_conn);
    kxs_conn = -1;
  }
}

/* One request: N, then Q op and its frames, or the run's frames. */
static void kxs_request_1(void);

/* The idle clock counts from the start and the end of each request. */
static void kxs_request(void) {
  kxs_last_request = kxs_wall_ms();
  kxs_request_1();
  kxs_last_request = kxs_wall_ms();
}

static void kxs_request_1(void) {
  char t;
  char *d;
  uint32_t n;
  int r = kxs_read_frame(kxs_conn, &t, &d, &n, MAX_FRAME);
  /* A kill between calls: the service's K crossed the end frame of the call it meant (its
     deadline, output cap or caller ended it as the program ended). Nothing runs: nothing to
     kill, and the connection stays for the next request. */
  if (r == 1 && t == 'K') {
    free(d);
    return;
  }
  if (r != 1 || t != 'N' || n == 0 || n > 128) {
    if (r == 1) free(d);
    close(kxs_conn);
    kxs_conn = -1;
    return;
  }
  char rq[130];
  snprintf(rq, sizeof rq, "%s", d);
  free(d);
  if (kxs_read_frame(kxs_conn, &t, &d, &n, MAX_FRAME) != 1) {
    close(kxs_conn);
    kxs_conn = -1;
    return;
  }
  if (t != 'Q') return kxs_op_run(rq, t, d, n);
  char op[16];
  snprintf(op, sizeof op, "%s", d);
  free(d);
  if (!strcmp(op, "bg")) return kxs_op_bg(rq);
  /* The other ops: P path, M max, R, up to G (put: its D frames follow P, read by the op). */
  char *path = NULL;
  uint64_t max = 0;
  int recursive = 0;
  for (;;) {
    if (kxs_read_frame(kxs_conn, &t, &d, &n, 1 << 16) != 1) {
      free(path);
      close(kxs_conn);
      kxs_conn = -1;
      return;
    }
    if (t == 'P') {
      free(path);
      path = d;
      if (!strcmp(op, "put")) break;
      continue;
    }
    if (t == 'M') max = strtoull(d, NULL, 10);
    if (t == 'R') recursive = 1;
    free(d);
    if (t == 'G') break;
  }
  if (!path) path = strdup("");
  if (!strcmp(op, "put") || !strcmp(op, "get") || !strcmp(op, "tar") || !strcmp(op, "list") || !strcmp(op, "delete")) {
    kxs_in_child(op, rq, path, max, recursive);
  } else if (!strcmp(op, "bglist")) {
    kxs_op_bglist(rq);
  } else if (!strcmp(op, "bgstop")) {
    kxs_op_bgstop(rq, path);
  } else if (!strcmp(op, "deadline")) {
    kxs_next_deadline = now_ms() + strtoll(path, NULL, 10);
    kxs_sendf('Y', "%s ok", rq);
  } else if (!strcmp(op, "ping")) {
    kxs_sendf('Y', "%s ok %s", rq, KXS_CAPS);
  } else {
    kxs_sendf('Z', "%s EINVAL unknown op %s", rq, op);
  }
  free(path);
}

static void kxs_accept(int listen_fd) {
  int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) return;
  struct ucred cred;
  socklen_t cl = sizeof cred;
  pid_t pid = getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0 ? cred.pid : -1;
  /* The attach process says its pid first (gVisor's SO_PEERCRED names another): both are spared. */
  struct timeval rt = {5, 0};
  setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof rt);
  char t;
  char *d = NULL;
  uint32_t n;
  if (kxs_read_frame(c, &t, &d, &n, 64) != 1 || t != 'P') {
    free(d);
    close(c);
    return;
  }
  pid_t said = (pid_t)atoi(d);
  free(d);
  struct timeval none = {0, 0};
  setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
  /* The newest wins: the attach process of the connection before is ended. */
  if (kxs_conn >= 0) close(kxs_conn);
  if (kxs_attach_pid > 1 && kxs_attach_pid != said) kill(kxs_attach_pid, SIGKILL);
  if (kxs_attach_pid2 > 1 && kxs_attach_pid2 != said && kxs_attach_pid2 != pid) kill(kxs_attach_pid2, SIGKILL);
  kxs_conn = c;
  kxs_attach_pid = said;
  kxs_attach_pid2 = pid;
  struct timeval tv = {60, 0};
  setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  kxs_send('R', KXS_HELLO, sizeof KXS_HELLO - 1);
}

static int kxs_session_main(int argc, char **argv) {
  if (getpid() != 1) die("--session must be the init process of a sandbox (pid 1), not pid %d", (int)getpid());
  in_session = 1;
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  /* As in one-shot mode: a request's large buffers go back to the kernel when freed. */
  mallopt(M_MMAP_THRESHOLD, 64 * 1024);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_IGN);
  for (int i = 2; i + 1 < argc; i++) {
    unsigned u, g;
    if (!strcmp(argv[i], "--user") && sscanf(argv[i + 1], "%u:%u", &u, &g) == 2) {
      /* Root switches to the program's user (one-shot mode's rule). */
      prog_uid = (uid_t)u;
      prog_gid = (gid_t)g;
      switch_user = getuid() == 0 && u != 0;
    }
    if (!strcmp(argv[i], "--expires")) kxs_expires_at = strtoll(argv[i + 1], NULL, 10);
    if (!strcmp(argv[i], "--idle-ms")) kxs_idle_ms = strtoll(argv[i + 1], NULL, 10);
  }
  kxs_last_request = kxs_wall_ms();
  const char *dir = KXS_DIR;
  if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
    dir = KXS_DIR_FALLBACK;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) die("making %s: %s", dir, strerror(errno));
  }
  struct stat st;
  if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid()) die("%s is not a directory of ours", dir);
  chmod(dir, 0700);
  snprintf(kxs_sock, sizeof kxs_sock, "%s/sock", dir);
  unlink(kxs_sock);
  int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", kxs_sock);
  if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 4) < 0) die("listening on %s: %s", kxs_sock, strerror(errno));
  chmod(kxs_sock, 0600);
  kxs_listen_fd = l;
  if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) die("pipe: %s", strerror(errno));
  struct sigaction sa = {0};
  sa.sa_handler = on_child;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);
  for (;;) {
    struct pollfd p[3] = {{l, POLLIN, 0}, {sig_pipe[0], POLLIN, 0}, {kxs_conn, POLLIN, 0}};
    int pr = poll(p, kxs_conn >= 0 ? 3 : 2, kxs_expiry_timeout(-1));
    kxs_check_expiry(0);
    if (pr <= 0) continue;
    if (p[1].revents & POLLIN) {
      char buf[256];
      while (read(sig_pipe[0], buf, sizeof buf) > 0) {
      }
      reap();
    }
    if (p[0].revents & POLLIN) {
      kxs_accept(l);
      continue;
    }
    if (kxs_conn >= 0 && (p[2].revents & (POLLIN | POLLHUP | POLLERR))) kxs_request();
  }
  return 0;
}

/* --attach: the service's end of the socket, through `ctr tasks exec`. */
static int kxs_attach_main(void) {
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  signal(SIGPIPE, SIG_IGN);
  int s = -1;
  for (int i = 0; i < 200 && s < 0; i++) {
    const char *dirs[2] = {KXS_DIR, KXS_DIR_FALLBACK};
    for (int j = 0; j < 2 && s < 0; j++) {
      struct sockaddr_un a = {.sun_family = AF_UNIX};
      snprintf(a.sun_path, sizeof a.sun_path, "%s/sock", dirs[j]);
      int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (c >= 0 && connect(c, (struct sockaddr *)&a, sizeof a) == 0) s = c;
      else if (c >= 0) close(c);
    }
    if (s < 0) usleep(50000);
  }
  if (s < 0) die("no session launcher to attach to");
  char me[32];
  int ml = snprintf(me, sizeof me, "%d", (int)getpid());
  unsigned char h[5] = {'P', 0, 0, 0, (unsigned char)ml};
  if (write_all(s, h, 5) < 0 || write_all(s, me, (size_t)ml) < 0) die("attaching: %s", strerror(errno));
  struct pollfd p[2] = {{0, POLLIN, 0}, {s, POLLIN, 0}};
  char buf[65536];
  for (;;) {
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    for (int i = 0; i < 2; i++) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(p[i].fd, buf, sizeof buf);
      if (n <= 0) return 0;
      if (write_all(i == 0 ? s : 1, buf, (size_t)n) < 0) return 0;
    }
  }
}

/*
 * The mode is chosen before main() runs (glibc passes argc and argv to constructors), so
 * the one-shot main flow above stays as it is: without --session or --attach, nothing here
 * runs.
 */
__attribute__((constructor)) static void kxs_mode(int argc, char **argv, char **envp) {
  (void)envp;
  if (argc >= 2 && strcmp(argv[1], "--session") == 0) _exit(kxs_session_main(argc, argv));
  if (argc >= 2 && strcmp(argv[1], "--attach") == 0) _exit(kxs_attach_main());
}
