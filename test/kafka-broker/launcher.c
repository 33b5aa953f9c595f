/*
 * eventgraph test broker launcher: starts librdkafka's in-memory mock Kafka cluster.
 *
 * Usage: launcher [broker-count]        (default 3, 1..16)
 *
 * On start it prints exactly one JSON line on stdout:
 *   {"brokers":[{"id":1,"host":"127.0.0.1","port":40123},...]}
 * (or, on failure, {"error":"..."} and exits with status 1). Then it reads line commands
 * on stdin and answers each with exactly one line, `ok` or `error <message>`:
 *   topic <name> <partitions> <replication>   create a topic (rd_kafka_mock_topic_create);
 *                                             an existing topic answers
 *                                             `error TOPIC_ALREADY_EXISTS ...`
 *   ping                                      liveness check
 * It exits with status 0 on stdin EOF (so it never outlives its parent) or SIGTERM/SIGINT.
 * All data lives in memory and is gone when the process exits.
 * Build: cc -O2 -o launcher launcher.c -lrdkafka   (Debian: apt-get install librdkafka-dev)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static void reply(const char *fmt, const char *a, const char *b) {
  printf(fmt, a, b);
  putchar('\n');
  fflush(stdout);
}

/* Handles one command line (without the newline). */
static void handle(rd_kafka_mock_cluster_t *mcluster, char *line) {
  char *save = NULL;
  char *cmd = strtok_r(line, " \t\r", &save);
  if (cmd == NULL) {
    reply("error %s%s", "empty command", "");
    return;
  }
  if (strcmp(cmd, "ping") == 0) {
    reply("ok%s%s", "", "");
    return;
  }
  if (strcmp(cmd, "topic") == 0) {
    char *name = strtok_r(NULL, " \t\r", &save);
    char *parts = strtok_r(NULL, " \t\r", &save);
    char *repl = strtok_r(NULL, " \t\r", &save);
    char *end1 = NULL, *end2 = NULL;
    long partitions = parts ? strtol(parts, &end1, 10) : 0;
    long replication = repl ? strtol(repl, &end2, 10) : 0;
    if (name == NULL || parts == NULL || repl == NULL || *end1 != '\0' || *end2 != '\0' ||
        partitions < 1 || partitions > 100000 || replication < 1 || replication > 16) {
      reply("error %s%s", "usage: topic <name> <partitions 1..100000> <replication 1..16>", "");
      return;
    }
    rd_kafka_resp_err_t err =
        rd_kafka_mock_topic_create(mcluster, name, (int)partitions, (int)replication);
    if (err) {
      reply("error %s %s", rd_kafka_err2name(err), rd_kafka_err2str(err));
    } else {
      reply("ok%s%s", "", "");
    }
    return;
  }
  reply("error unknown command: %s%s", cmd, "");
}

int main(int argc, char **argv) {
  int broker_cnt = 3;
  if (argc > 1) {
    char *end = NULL;
    long n = strtol(argv[1], &end, 10);
    if (*end != '\0' || n < 1 || n > 16) {
      printf("{\"error\":\"broker count must be 1..16\"}\n");
      return 1;
    }
    broker_cnt = (int)n;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal; /* no SA_RESTART: a blocked fgets() returns on a signal */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  /* The host client never connects anywhere; it only owns the mock cluster's threads. */
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (rk == NULL) {
    printf("{\"error\":\"rd_kafka_new failed\"}\n");
    return 1;
  }
  rd_kafka_mock_cluster_t *mcluster = rd_kafka_mock_cluster_new(rk, broker_cnt);
  if (mcluster == NULL) {
    printf("{\"error\":\"rd_kafka_mock_cluster_new failed\"}\n");
    rd_kafka_destroy(rk);
    return 1;
  }

  /* Bootstraps are "host:port,host:port,..." in broker id order 1..N. */
  const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
  char *copy = strdup(bootstraps);
  char *save = NULL;
  int id = 1;
  printf("{\"brokers\":[");
  for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
    char *colon = strrchr(tok, ':');
    if (colon == NULL) continue;
    *colon = '\0';
    printf("%s{\"id\":%d,\"host\":\"%s\",\"port\":%s}", id > 1 ? "," : "", id, tok, colon + 1);
    id++;
  }
  printf("]}\n");
  fflush(stdout);
  free(copy);

  char line[4096];
  while (!stop_requested) {
    if (fgets(line, sizeof(line), stdin) == NULL) {
      if (ferror(stdin) && errno == EINTR && !stop_requested) {
        clearerr(stdin);
        continue;
      }
      break; /* EOF, error or signal */
    }
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] == '\n') line[--len] = '\0';
    handle(mcluster, line);
  }

  rd_kafka_mock_cluster_destroy(mcluster);
  rd_kafka_destroy(rk);
  return 0;
}
