// LD_PRELOAD shim for a slow disk: each fsync/fdatasync of a directory under $SLOW_FSYNC_WATCH
// sleeps $SLOW_FSYNC_MS before the real call (ext4 makes a folder fsync wait for a journal
// commit, which on a busy disk can take seconds). Files are synced at full speed.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "watched-path.h"

static void maybe_sleep(int fd) {
  const char *watch = getenv("SLOW_FSYNC_WATCH");
  const char *ms = getenv("SLOW_FSYNC_MS");
  if (!watch || !ms) return;
  struct stat st;
  char path[PATH_MAX];
  if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode) || !watched_path(fd, watch, path)) return;
  long delay = atol(ms);
  struct timespec ts = {delay / 1000, (delay % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

#define SLOWED(name)                                                     \
  int name(int fd) {                                                     \
    static int (*real)(int);                                             \
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, #name);             \
    maybe_sleep(fd);                                                     \
    return real(fd);                                                     \
  }

SLOWED(fsync)
SLOWED(fdatasync)
