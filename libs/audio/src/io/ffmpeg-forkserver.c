/*
 * A fork server inside ffmpeg, loaded with LD_PRELOAD.
 *
 * A distribution's ffmpeg links some 200 shared libraries and binds every symbol at start (BIND_NOW): each
 * start spends 50-90 ms of CPU in the dynamic loader before ffmpeg reads its first option, more than most of
 * the engine's runs take to do their work. This library takes the place of ffmpeg's main() in one long-lived
 * ffmpeg process whose libraries are loaded and bound once; each run is a fork of that process that then
 * enters ffmpeg's own main() with the run's arguments, as a fresh start would.
 *
 * Without MCM_FFMPEG_PIPES in the environment the library does nothing and ffmpeg runs as usual.
 *
 * The asker talks to the server on its stdin and stdout.
 *   request  "<length>\n" then <length> bytes of NUL-terminated fields:
 *              run <id> <descriptors> <arg0> <arg1> ...   (descriptors: the digits of the fds to connect, e.g. "0123")
 *              kill <id>
 *   report   one line each: "ready", "started <id> <pid>", "failed <id> <reason>", "exit <id> <code> <signal>"
 * For each descriptor a run asks for, the server connects to the Unix socket named by MCM_FFMPEG_PIPES and writes
 * "<id> <fd>\n" on the connection; the run's child makes it that descriptor, the others /dev/null (0-2) or closed.
 * The server kills its runs and exits when its stdin closes.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

typedef int (*main_fn)(int, char **, char **);
typedef int (*start_fn)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *);

static main_fn ffmpeg_main;
static char socket_path[108];
/* The server's own command line, which /proc/<pid>/cmdline and ps show: each run writes its arguments over it. */
static char *title_start, *title_end;
static sigset_t blocked;

#define MAX_RUNS 256
static struct {
  long id;
  pid_t pid;
} runs[MAX_RUNS];

static void report(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *format, ...) {
  char line[512];
  va_list args;
  va_start(args, format);
  int length = vsnprintf(line, sizeof line, format, args);
  va_end(args);
  if (length < 0) return;
  if ((size_t)length >= sizeof line) length = sizeof line - 1;
  /* One write of under PIPE_BUF bytes: lines from the server and its children never interleave. */
  ssize_t written;
  do written = write(STDOUT_FILENO, line, (size_t)length);
  while (written < 0 && errno == EINTR);
}

static int connect_descriptor(long id, int fd) {
  int sock = socket(AF_UNIX, SOCK_STREAM, 0);
  if (sock < 0) return -1;
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  memcpy(address.sun_path, socket_path, sizeof address.sun_path);
  int connected;
  do connected = connect(sock, (struct sockaddr *)&address, sizeof address);
  while (connected < 0 && errno == EINTR);
  char header[48];
  int length = snprintf(header, sizeof header, "%ld %d\n", id, fd);
  if (connected < 0 || write(sock, header, (size_t)length) != length) {
    int saved = errno;
    close(sock);
    errno = saved;
    return -1;
  }
  return sock;
}

/* Shows the run's arguments as its command line, cut to the space the server's own took. */
static void set_title(int argc, char **argv) {
  if (!title_start) return;
  char *at = title_start;
  for (int i = 0; i < argc && at < title_end; i++) {
    size_t room = (size_t)(title_end - at), length = strlen(argv[i]) + 1;
    memcpy(at, argv[i], length < room ? length : room);
    at += length < room ? length : room;
  }
  if (at < title_end) memset(at, 0, (size_t)(title_end - at));
  title_end[-1] = '\0';
}

/* In the child: the run's connections as its descriptors, then ffmpeg's main(). Never returns. */
static void run_child(pid_t server, int connected[4], int argc, char **argv) {
  /* A run does not outlive its server: nothing would be left to stop it or read what it writes. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != server) _exit(127);
  set_title(argc, argv);
  /* Moved above 3 first, so placing one never closes another. */
  for (int fd = 0; fd < 4; fd++) {
    if (connected[fd] < 0) continue;
    int moved = fcntl(connected[fd], F_DUPFD, 10);
    if (moved < 0) _exit(127);
    connected[fd] = moved;
  }
  for (int fd = 0; fd < 4; fd++) {
    int source = connected[fd];
    if (source < 0 && fd < 3) source = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (source < 0) {
      close(fd);
      continue;
    }
    if (dup2(source, fd) < 0) _exit(127);
  }
  /* Nothing of the server's stays open in the run. */
  if (close_range(4, ~0U, 0) < 0)
    for (int fd = 4; fd < 1024; fd++) close(fd);
  /* As a fresh start would have them. */
  signal(SIGPIPE, SIG_DFL);
  sigprocmask(SIG_UNBLOCK, &blocked, NULL);
  exit(ffmpeg_main(argc, argv, environ));
}

static void close_all(int connected[4]) {
  for (int fd = 0; fd < 4; fd++)
    if (connected[fd] >= 0) close(connected[fd]);
}

static void start_run(char *fields, size_t length) {
  char *end = fields + length;
  char *id_text = fields + strlen(fields) + 1;
  if (id_text >= end) return;
  long id = strtol(id_text, NULL, 10);
  char *descriptors = id_text + strlen(id_text) + 1;
  if (descriptors >= end) return;
  char *argv[1024];
  int argc = 0;
  for (char *arg = descriptors + strlen(descriptors) + 1; arg < end && argc < 1023; arg += strlen(arg) + 1) argv[argc++] = arg;
  argv[argc] = NULL;
  int slot = 0;
  while (slot < MAX_RUNS && runs[slot].pid != 0) slot++;
  if (argc == 0 || slot == MAX_RUNS) {
    report("failed %ld %s\n", id, argc == 0 ? "no arguments" : "too many runs at once");
    return;
  }
  /* Connected here, before the fork: once "started" is reported, every connection of the run is at the asker's
     socket, even for a run killed before it ran a line of ffmpeg. */
  int connected[4] = {-1, -1, -1, -1};
  for (int fd = 0; fd < 4; fd++) {
    if (!strchr(descriptors, '0' + fd)) continue;
    connected[fd] = connect_descriptor(id, fd);
    if (connected[fd] < 0) {
      report("failed %ld cannot connect descriptor %d: %s\n", id, fd, strerror(errno));
      close_all(connected);
      return;
    }
  }
  pid_t server = getpid();
  pid_t pid = fork();
  if (pid == 0) run_child(server, connected, argc, argv);
  close_all(connected);
  if (pid < 0) {
    report("failed %ld fork: %s\n", id, strerror(errno));
    return;
  }
  runs[slot].id = id;
  runs[slot].pid = pid;
  report("started %ld %d\n", id, (int)pid);
}

static void kill_run(const char *id_text) {
  long id = strtol(id_text, NULL, 10);
  for (int slot = 0; slot < MAX_RUNS; slot++)
    if (runs[slot].pid != 0 && runs[slot].id == id) kill(runs[slot].pid, SIGKILL);
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (int slot = 0; slot < MAX_RUNS; slot++) {
      if (runs[slot].pid != pid) continue;
      runs[slot].pid = 0;
      if (WIFSIGNALED(status)) report("exit %ld -1 %d\n", runs[slot].id, WTERMSIG(status));
      else report("exit %ld %d 0\n", runs[slot].id, WEXITSTATUS(status));
    }
  }
}

static int serve(int argc, char **argv, char **envp) {
  const char *pipes = getenv("MCM_FFMPEG_PIPES");
  if (!pipes) return ffmpeg_main(argc, argv, envp);
  if (strlen(pipes) >= sizeof socket_path) {
    fprintf(stderr, "MCM_FFMPEG_PIPES is longer than a socket path may be\n");
    return 1;
  }
  strcpy(socket_path, pipes);
  /* The arguments lie end to end; the asker pads them so a run's own fit. */
  title_start = argv[0];
  title_end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;
  for (int i = 1; i < argc; i++)
    if (argv[i] != argv[i - 1] + strlen(argv[i - 1]) + 1) title_start = NULL;
  unsetenv("MCM_FFMPEG_PIPES");
  unsetenv("LD_PRELOAD");
  signal(SIGPIPE, SIG_IGN);
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGCHLD);
  sigprocmask(SIG_BLOCK, &blocked, NULL);
  int children = signalfd(-1, &blocked, SFD_CLOEXEC);
  if (children < 0) return 1;
  report("ready\n");

  size_t capacity = 1 << 16, held = 0;
  char *buffer = malloc(capacity);
  if (!buffer) return 1;
  for (;;) {
    struct pollfd watched[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = children, .events = POLLIN}};
    if (poll(watched, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (watched[1].revents & POLLIN) {
      struct signalfd_siginfo info;
      if (read(children, &info, sizeof info) < 0 && errno != EINTR) break;
      reap();
    }
    if (!(watched[0].revents & (POLLIN | POLLHUP))) continue;
    if (held == capacity) {
      char *grown = realloc(buffer, capacity * 2);
      if (!grown) break;
      buffer = grown;
      capacity *= 2;
    }
    ssize_t count = read(STDIN_FILENO, buffer + held, capacity - held);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) break;
    held += (size_t)count;
    for (;;) {
      char *newline = memchr(buffer, '\n', held);
      if (!newline) break;
      size_t length = strtoul(buffer, NULL, 10);
      size_t start = (size_t)(newline - buffer) + 1;
      if (held < start + length) break;
      char *fields = buffer + start;
      /* Every field ends with NUL; a request that does not is dropped. */
      if (length > 0 && fields[length - 1] == '\0') {
        if (strcmp(fields, "run") == 0) start_run(fields, length);
        else if (strcmp(fields, "kill") == 0 && strlen(fields) + 1 < length) kill_run(fields + strlen(fields) + 1);
      }
      memmove(buffer, buffer + start + length, held - start - length);
      held -= start + length;
    }
  }
  /* The asker is gone: nothing is left to read what the runs write. */
  for (int slot = 0; slot < MAX_RUNS; slot++)
    if (runs[slot].pid != 0) kill(runs[slot].pid, SIGKILL);
  return 0;
}

int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void), void (*fini)(void), void (*rtld_fini)(void), void *stack_end) {
  start_fn real = (start_fn)dlsym(RTLD_NEXT, "__libc_start_main");
  ffmpeg_main = main;
  return real(serve, argc, argv, init, fini, rtld_fini, stack_end);
}
