/* A stub of CrowdSec's LAPI that answers badly on purpose, for the fleet
 * tests: lapistub ADDR PORT MODE. Login always works; then, by MODE:
 *   push500    every POST /v1/alerts: 500 with a validation message
 *   malformed  the stream: 200 and JSON that is not a decision stream
 *   truncated  the stream: half a body, then the connection closes
 *   huge       the stream: 50 MB of whitespace, never a document
 *   slow       the stream: headers, then nothing at all
 * Counts the requests it served on standard output as it goes. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void say(int fd, const char *status, const char *body)
{
	char head[256];

	snprintf(head, sizeof(head), "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, strlen(body));
	if (write(fd, head, strlen(head)) < 0 || write(fd, body, strlen(body)) < 0)
		return;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int one = 1, s;
	const char *mode;
	unsigned served = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: lapistub ADDR PORT push500|malformed|truncated|huge|slow\n");
		return 2;
	}
	mode = argv[3];
	signal(SIGPIPE, SIG_IGN);
	inet_pton(AF_INET, argv[1], &sa.sin_addr);
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	s = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 16) < 0) {
		perror("lapistub");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		char req[65536];
		ssize_t n;
		int c = accept(s, NULL, NULL);

		if (c < 0)
			continue;
		n = read(c, req, sizeof(req) - 1);
		if (n <= 0) {
			close(c);
			continue;
		}
		req[n] = 0;
		served++;
		if (strstr(req, "/v1/watchers/login")) {
			say(c, "200 OK", "{\"code\":200,\"expire\":\"2099-01-01T00:00:00Z\",\"token\":\"stub.token.x\"}");
		} else if (strstr(req, "POST /v1/alerts")) {
			if (!strcmp(mode, "push500"))
				say(c, "500 Internal Server Error",
				    "{\"message\":\"validation failure list:\\n0.scenario_hash in body is required\"}");
			else
				say(c, "201 Created", "[\"1\"]");
		} else if (strstr(req, "/v1/decisions/stream")) {
			if (!strcmp(mode, "malformed")) {
				say(c, "200 OK", "{\"new\":{\"oops\":[1,2,3]},\"deleted\":7}");
			} else if (!strcmp(mode, "truncated")) {
				static const char h[] = "HTTP/1.1 200 OK\r\nContent-Length: 4000\r\n\r\n"
					"{\"deleted\":null,\"new\":[{\"duration\":\"1h\",\"id\":1,\"origin\":\"rcptguard\","
					"\"scenario\":\"rcptguard/harvest\",\"scope\":\"Ip\",\"type\":\"ban\",\"value\":\"198.18.9.1\"},{\"dur";
				if (write(c, h, sizeof(h) - 1) < 0)
					break;
			} else if (!strcmp(mode, "huge")) {
				static char spaces[1 << 16];
				static const char h[] = "HTTP/1.1 200 OK\r\nContent-Length: 52428800\r\n\r\n";

				memset(spaces, ' ', sizeof(spaces));
				if (write(c, h, sizeof(h) - 1) < 0)
					break;
				for (int i = 0; i < 800; i++)
					if (write(c, spaces, sizeof(spaces)) < 0)
						break;
			} else if (!strcmp(mode, "slow")) {
				static const char h[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";

				if (write(c, h, sizeof(h) - 1) < 0)
					break;
				sleep(30);
			} else {
				say(c, "200 OK", "{\"deleted\":null,\"new\":null}");
			}
		} else {
			say(c, "404 Not Found", "{\"message\":\"no\"}");
		}
		close(c);
		printf("served %u\n", served);
		fflush(stdout);
	}
	return 0;
}
