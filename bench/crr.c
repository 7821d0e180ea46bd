/*
 * Connect-request-response rate, the datapath benchmark of performance.md section 7: each iteration
 * connects, sends 1 byte, reads 1 byte and closes with RST (SO_LINGER 0) so no TIME_WAIT piles up.
 *   crr server PORT                 echo one byte per connection, forever
 *   crr client ADDR PORT SECONDS    prints connections per second
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "server") == 0) {
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 1024)) { perror("bind/listen"); return 1; }
    printf("ready\n");
    fflush(stdout);
    for (;;) {
      int c = accept(s, 0, 0);
      char b;
      if (c < 0) continue;
      if (read(c, &b, 1) == 1) (void)!write(c, &b, 1);
      close(c);
    }
  }
  if (argc >= 5 && strcmp(argv[1], "client") == 0) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
    inet_pton(AF_INET, argv[2], &a.sin_addr);
    double end = now() + atof(argv[4]), start = now();
    long n = 0, fail = 0;
    struct linger l = {1, 0};
    while (now() < end) {
      int c = socket(AF_INET, SOCK_STREAM, 0);
      char b = 'x';
      setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      if (connect(c, (struct sockaddr *)&a, sizeof a) == 0 && write(c, &b, 1) == 1 && read(c, &b, 1) == 1) n++;
      else fail++;
      close(c);
    }
    printf("%.1f %ld\n", n / (now() - start), fail);
    return 0;
  }
  fprintf(stderr, "usage: crr server PORT | crr client ADDR PORT SECONDS\n");
  return 2;
}
