// LD_PRELOAD shim for power-loss tests: records what a file system that drops every unsynced
// write would still hold. On each successful fsync/fdatasync of a descriptor under
// $DURABLE_WATCH it snapshots, into $DURABLE_SHADOW:
//   a regular file -> files/<inode>  (its content at that moment)
//   a directory    -> dirs/<inode>   (its entries at that moment: "<f|d> <inode> <name>" lines)
// and appends "<kind> <inode> <size> <path>" to syncs.log. test/store/power-loss.ts rebuilds
// the folder from these after the process is killed.
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "watched-path.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) return -1;
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Writes `tmp` and renames it to `dest`, so a snapshot is never seen half written. */
static void finish(const char *tmp, const char *dest, int out) {
  close(out);
  rename(tmp, dest);
}

static void snapshot_file(int fd, const char *shadow, ino_t ino) {
  char src[64], tmp[PATH_MAX + 8], dest[PATH_MAX], buf[65536];
  snprintf(src, sizeof src, "/proc/self/fd/%d", fd);
  snprintf(dest, sizeof dest, "%s/files/%lu", shadow, (unsigned long)ino);
  snprintf(tmp, sizeof tmp, "%s.tmp", dest);
  // Reopened read-only: the descriptor itself may be write-only.
  int in = open(src, O_RDONLY | O_CLOEXEC);
  if (in < 0) return;
  int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out >= 0) {
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0) write_all(out, buf, (size_t)n);
    finish(tmp, dest, out);
  }
  close(in);
}

static void snapshot_dir(const char *path, const char *shadow, ino_t ino) {
  char tmp[PATH_MAX + 8], dest[PATH_MAX], line[PATH_MAX + 64];
  snprintf(dest, sizeof dest, "%s/dirs/%lu", shadow, (unsigned long)ino);
  snprintf(tmp, sizeof tmp, "%s.tmp", dest);
  DIR *d = opendir(path);
  if (!d) return;
  int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out >= 0) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      if (e->d_type != DT_REG && e->d_type != DT_DIR) continue;
      int len = snprintf(line, sizeof line, "%c %lu %s\n", e->d_type == DT_DIR ? 'd' : 'f', (unsigned long)e->d_ino, e->d_name);
      write_all(out, line, (size_t)len);
    }
    finish(tmp, dest, out);
  }
  closedir(d);
}

static void record(int fd) {
  const char *watch = getenv("DURABLE_WATCH");
  const char *shadow = getenv("DURABLE_SHADOW");
  if (!watch || !shadow) return;
  char path[PATH_MAX];
  if (!watched_path(fd, watch, path)) return;
  struct stat st;
  if (fstat(fd, &st) != 0) return;
  pthread_mutex_lock(&lock);
  if (S_ISREG(st.st_mode)) snapshot_file(fd, shadow, st.st_ino);
  else if (S_ISDIR(st.st_mode)) snapshot_dir(path, shadow, st.st_ino);
  char log[PATH_MAX], line[PATH_MAX + 64];
  snprintf(log, sizeof log, "%s/syncs.log", shadow);
  int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out >= 0) {
    int len = snprintf(line, sizeof line, "%c %lu %lld %s\n", S_ISDIR(st.st_mode) ? 'd' : 'f', (unsigned long)st.st_ino, (long long)st.st_size, path);
    write_all(out, line, (size_t)len);
    close(out);
  }
  pthread_mutex_unlock(&lock);
}

// The real call first; a snapshot only of what the kernel accepted as synced.
#define RECORDED(name)                                                   \
  int name(int fd) {                                                     \
    static int (*real)(int);                                             \
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, #name);             \
    int rc = real(fd);                                                   \
    if (rc == 0) record(fd);                                             \
    return rc;                                                           \
  }

RECORDED(fsync)
RECORDED(fdatasync)
