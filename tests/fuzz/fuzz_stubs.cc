// Name resolution for the fuzz targets. Config and admin inputs name servers like "foo:80", and
// parse_address() resolves host names with getaddrinfo: a real lookup would make each run slow
// and dependent on the machine's DNS. This definition replaces libc's (and ASan's interceptor,
// which is weak) in the fuzz binaries only: "localhost" resolves to 127.0.0.1, every other name
// fails the way an unknown host does. IP literals never get here (parse_address uses inet_pton).
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>
#include <strings.h>

extern "C" int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                           struct addrinfo** res) {
  (void)service;
  (void)hints;
  if (node == nullptr || strcasecmp(node, "localhost") != 0) return EAI_NONAME;
  // One allocation holds the addrinfo and its sockaddr, so freeaddrinfo is one free().
  auto* block = static_cast<char*>(std::calloc(1, sizeof(addrinfo) + sizeof(sockaddr_in)));
  if (block == nullptr) return EAI_MEMORY;
  auto* ai = reinterpret_cast<addrinfo*>(block);
  auto* sin = reinterpret_cast<sockaddr_in*>(block + sizeof(addrinfo));
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ai->ai_family = AF_INET;
  ai->ai_socktype = SOCK_STREAM;
  ai->ai_addrlen = sizeof(sockaddr_in);
  ai->ai_addr = reinterpret_cast<sockaddr*>(sin);
  *res = ai;
  return 0;
}

extern "C" void freeaddrinfo(struct addrinfo* res) { std::free(res); }
