/**
 * Issue 10, item 15: on a busy machine the hostile test "bounds what a dev program writes
 * to its writable root" failed because its `du` walked a directory that another test's
 * teardown deleted meanwhile ("du: cannot access .../code"). Here that race is made
 * certain: a library preloaded into du deletes a sandbox's directory at the moment du,
 * having listed it, looks at its `code` entry. The measurement must still answer.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskBytes } from '../helpers/disk-usage.js';

const MiB = 1024 * 1024;

/**
 * fstatat(2) as du calls it, through this hook: when du, inside directory $KX_RACE_DIR,
 * asks about the entry $KX_RACE_NAME, the hook first deletes that whole directory (rm -rf,
 * as a teardown does) and leaves $KX_RACE_DONE behind, once.
 */
const HOOK = `
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fired;

int fstatat(int dirfd, const char *name, struct stat *st, int flags) {
  static int (*real)(int, const char *, struct stat *, int);
  if (!real) real = dlsym(RTLD_NEXT, "fstatat");
  const char *dir = getenv("KX_RACE_DIR"), *entry = getenv("KX_RACE_NAME"), *done = getenv("KX_RACE_DONE");
  if (!fired && dir && entry && done && dirfd >= 0 && strcmp(name, entry) == 0) {
    char link[64], at[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
    ssize_t n = readlink(link, at, sizeof at - 1);
    if (n > 0) {
      at[n] = 0;
      if (strcmp(at, dir) == 0) {
        fired = 1;
        char cmd[PATH_MAX * 2 + 32];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && : > '%s'", dir, done);
        // The rm is not hooked.
        unsetenv("LD_PRELOAD");
        unsetenv("KX_RACE_DIR");
        if (system(cmd) != 0) _exit(99);
      }
    }
  }
  return real(dirfd, name, st, flags);
}
`;

describe('measuring disk use while a sandbox is torn down', () => {
  let build = '';
  let root = '';
  beforeAll(() => {
    build = mkdtempSync(path.join(tmpdir(), 'kx-du-hook-'));
    writeFileSync(path.join(build, 'hook.c'), HOOK);
    execFileSync('gcc', ['-shared', '-fPIC', '-o', path.join(build, 'hook.so'), path.join(build, 'hook.c'), '-ldl']);
  });
  afterAll(() => {
    for (const d of [build, root]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('answers with what du saw when a directory is deleted mid-walk (du: cannot access .../code)', async () => {
    // A run directory as the service lays it out: work/<sandbox>/code/..., two sandboxes.
    root = mkdtempSync(path.join(tmpdir(), 'kx-du-race-'));
    for (const id of ['kx-stays', 'kx-goes']) {
      mkdirSync(path.join(root, 'work', id, 'code'), { recursive: true });
      writeFileSync(path.join(root, 'work', id, 'code', 'main.py'), Buffer.alloc(MiB, 1));
    }
    const goes = path.join(root, 'work', 'kx-goes');
    const done = path.join(root, 'deleted-mid-walk');
    const saved = { LD_PRELOAD: process.env.LD_PRELOAD, KX_RACE_DIR: process.env.KX_RACE_DIR, KX_RACE_NAME: process.env.KX_RACE_NAME, KX_RACE_DONE: process.env.KX_RACE_DONE };
    Object.assign(process.env, { LD_PRELOAD: path.join(build, 'hook.so'), KX_RACE_DIR: goes, KX_RACE_NAME: 'code', KX_RACE_DONE: done });
    let bytes: number;
    try {
      bytes = await diskBytes([root]);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    // The race did happen, in the middle of du's walk.
    expect(existsSync(done), 'the hook deleted the directory while du walked it').toBe(true);
    expect(existsSync(goes)).toBe(false);
    // What du saw is the answer: at least the sandbox that stayed.
    expect(bytes).toBeGreaterThanOrEqual(MiB);
  });
});
