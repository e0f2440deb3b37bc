/*
 * loopback-bind.so: preloaded (LD_PRELOAD) into mpirun and its ranks when the pool runs on
 * one host (PH5_POOL_NETWORK=loopback, the default with mpirun). A bind() to the wildcard
 * address (0.0.0.0, [::]) becomes a bind() to loopback (127.0.0.1, [::1]); every other
 * bind() is passed through untouched.
 *
 * Why a preload: OpenMPI 4.1's mpirun opens its out-of-band TCP listener on INADDR_ANY and
 * in6addr_any whatever its MCA parameters say (oob_tcp_if_include only chooses the
 * addresses it advertises; see services/worker/network.ts), and it cannot run without that
 * listener. On a single host nothing needs to reach it from elsewhere.
 *
 * Built with the addon (the loopback-bind target of native/binding.gyp) into
 * native/build/Release/loopback-bind.so; services/worker/network.ts names that path.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
  static bind_fn real_bind;
  if (!real_bind) real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
  if (!real_bind) {
    errno = ENOSYS;
    return -1;
  }
  if (addr && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
    struct sockaddr_in in;
    memcpy(&in, addr, sizeof in);
    if (in.sin_addr.s_addr == htonl(INADDR_ANY)) {
      in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      return real_bind(fd, (const struct sockaddr *)&in, sizeof in);
    }
  } else if (addr && addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
    struct sockaddr_in6 in6;
    memcpy(&in6, addr, sizeof in6);
    if (memcmp(&in6.sin6_addr, &in6addr_any, sizeof in6addr_any) == 0) {
      in6.sin6_addr = in6addr_loopback;
      return real_bind(fd, (const struct sockaddr *)&in6, sizeof in6);
    }
  }
  return real_bind(fd, addr, len);
}
