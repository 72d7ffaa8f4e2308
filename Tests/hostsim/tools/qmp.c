/* qmp: one QMP command to a running QEMU; prints its answer line ({"return": ...} or
 * {"error": ...}) and exits 0 only for a return. KVM's statistics through `query-stats` work
 * under lockdown, which refuses KVM's debugfs files (they have write bits).
 *
 *   qmp SOCKET COMMAND [ARGUMENTS-JSON]   (QEMU started with -qmp unix:SOCKET,server=on,wait=off)
 *
 * Static: gcc -static -O2 -o qmp qmp.c */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static char buf[1 << 16];
static size_t used;

/* The next reply line that is a command's answer (events are skipped); NULL on EOF. */
static char *reply(int fd)
{
    for (;;) {
        char *nl;
        while ((nl = memchr(buf, '\n', used)) == NULL) {
            if (used == sizeof(buf) - 1)
                return NULL;
            ssize_t n = read(fd, buf + used, sizeof(buf) - 1 - used);
            if (n <= 0)
                return NULL;
            used += (size_t)n;
        }
        static char line[sizeof(buf)];
        size_t len = (size_t)(nl - buf) + 1;
        memcpy(line, buf, len);
        line[len] = '\0';
        memmove(buf, nl + 1, used - len);
        used -= len;
        if (strstr(line, "\"return\"") || strstr(line, "\"error\""))
            return line;
    }
}

static int ask(int fd, const char *command)
{
    size_t len = strlen(command);
    return write(fd, command, len) == (ssize_t)len ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: qmp SOCKET COMMAND [ARGUMENTS-JSON]\n");
        return 2;
    }
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(argv[1]) >= sizeof(addr.sun_path)) {
        fprintf(stderr, "qmp: socket path too long\n");
        return 2;
    }
    strcpy(addr.sun_path, argv[1]);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        perror("qmp: connect");
        return 1;
    }
    /* The greeting is {"QMP": ...}: not an answer, so send both and read answers only. */
    char command[4096];
    int n = snprintf(command, sizeof(command),
                     "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"%s\"%s%s}\n",
                     argv[2], argc == 4 ? ",\"arguments\":" : "", argc == 4 ? argv[3] : "");
    if (n < 0 || (size_t)n >= sizeof(command) || ask(fd, command) < 0) {
        fprintf(stderr, "qmp: cannot send %s\n", argv[2]);
        return 1;
    }
    char *line = reply(fd);
    if (!line || !strstr(line, "\"return\"")) {
        fprintf(stderr, "qmp: qmp_capabilities: %s\n", line ? line : "no answer");
        return 1;
    }
    line = reply(fd);
    if (!line) {
        fprintf(stderr, "qmp: %s: no answer\n", argv[2]);
        return 1;
    }
    fputs(line, stdout);
    return strstr(line, "\"return\"") ? 0 : 1;
}
