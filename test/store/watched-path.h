// For the LD_PRELOAD shims of this folder: whether descriptor `fd` is `watch` or lies under it;
// its path goes to `path` (PATH_MAX bytes).
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int watched_path(int fd, const char *watch, char *path) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, PATH_MAX - 1);
  if (n <= 0) return 0;
  path[n] = '\0';
  size_t w = strlen(watch);
  return strncmp(path, watch, w) == 0 && (path[w] == '/' || path[w] == '\0');
}
