/*
 * cpgload: the Corosync side of Atoll's benchmark (tests/bench).
 *
 * It joins a CPG group of the local corosync, waits until the group has
 * --nodes members, then (with --send) multicasts --size byte messages
 * (CPG_TYPE_AGREED) at --rate messages per second, or as fast as Corosync's
 * flow control allows (--rate 0), for --warmup-ms plus --duration-ms, and
 * keeps receiving for --drain-ms. Every message carries its send time from
 * CLOCK_MONOTONIC, which all processes of one host share (also across
 * network namespaces), so the one-way latency of every delivery is
 * measured. The payload header is the one of Atoll's benchmark
 * (bench/payload.go):
 *
 *   off len field (little-endian)
 *     0   4 magic "ATLB"
 *     4   4 sender index
 *     8   8 sequence number of the sender, from 1
 *    16   8 send time, CLOCK_MONOTONIC nanoseconds
 *
 * Output: JSON lines on stdout, the same as `atoll bench node`: "install"
 * for every CPG configuration change (with its CLOCK_MONOTONIC time, for
 * failover measurements), "ready" when the group is complete, and finally
 * one "result" with the deliveries in the measurement window, their
 * latency percentiles, and the CPU time of this client and of the corosync
 * daemon (--daemon-pid) over the window, from /proc/PID/stat.
 *
 * Build: gcc -O2 -Wall -o cpgload cpgload.c -lcpg
 */
#define _GNU_SOURCE
#include <corosync/cpg.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x424c5441u /* "ATLB" little-endian */
#define HEADER_LEN 24
#define MS 1000000LL

static struct {
	const char *group, *node, *samples;
	int nodes, index, size, send, daemon_pid;
	double rate;
	int64_t settle, warmup, duration, drain, form_timeout;
} opt = {
	.group = "atoll-bench", .node = "?", .nodes = 1, .size = 1024,
	.settle = 300 * MS, .warmup = 1000 * MS, .duration = 10000 * MS,
	.drain = 1000 * MS, .form_timeout = 30000 * MS,
};

static struct {
	int ready;
	int64_t start, window_start, window_end, stop;
	uint64_t sent, backpressured, delivered, bytes;
	int conf_changes;
	int64_t *lat;
	size_t nlat, caplat;
	double cpu_start, daemon_cpu_start, cpu, daemon_cpu, cpu_window_start, cpu_window;
	int cpu_started, cpu_done;
} st;

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what, cs_error_t err)
{
	fprintf(stderr, "cpgload %s: %s failed: corosync error %d (is corosync running in this network namespace, and did it form a ring?)\n",
		opt.node, what, err);
	exit(1);
}

/* proc_cpu returns utime+stime of pid (0: this process) in seconds. */
static double proc_cpu(int pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, pid ? "/proc/%d/stat" : "/proc/self/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	unsigned long long ut = 0, stime = 0;
	/* fields after the command: state(3) ... utime(14) stime(15) */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stime) != 2)
		return 0;
	return (double)(ut + stime) / sysconf(_SC_CLK_TCK);
}

/* proc_hwm returns the peak RSS (VmHWM) of pid (0: this process) in KiB. */
static long proc_hwm(int pid)
{
	char path[64], line[256];
	long kib = 0;
	snprintf(path, sizeof path, pid ? "/proc/%d/status" : "/proc/self/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static void put_u32(unsigned char *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = v >> (8 * i);
}

static void put_u64(unsigned char *b, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = v >> (8 * i);
}

static uint64_t get_u64(const unsigned char *b)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

static void deliver(cpg_handle_t h, const struct cpg_name *g, uint32_t nodeid, uint32_t pid, void *msg, size_t len)
{
	(void)h, (void)g, (void)nodeid, (void)pid;
	const unsigned char *b = msg;
	if (!st.ready || len < HEADER_LEN || (b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24) != MAGIC)
		return;
	int64_t now = mono_ns();
	if (now < st.window_start || now >= st.window_end)
		return;
	st.delivered++;
	st.bytes += len;
	if (st.nlat == st.caplat) {
		st.caplat = st.caplat ? 2 * st.caplat : 1 << 16;
		st.lat = realloc(st.lat, st.caplat * sizeof *st.lat);
		if (!st.lat) {
			fprintf(stderr, "cpgload: out of memory for latency samples\n");
			exit(1);
		}
	}
	st.lat[st.nlat++] = now - (int64_t)get_u64(b + 16);
}

static const char *reason_name(uint32_t r)
{
	switch (r) {
	case CPG_REASON_JOIN: return "join";
	case CPG_REASON_LEAVE: return "leave";
	case CPG_REASON_NODEDOWN: return "nodedown";
	case CPG_REASON_NODEUP: return "nodeup";
	case CPG_REASON_PROCDOWN: return "procdown";
	}
	return "undefined";
}

static void confchg(cpg_handle_t h, const struct cpg_name *g,
		    const struct cpg_address *members, size_t nmembers,
		    const struct cpg_address *left, size_t nleft,
		    const struct cpg_address *joined, size_t njoined)
{
	(void)h, (void)g, (void)members, (void)joined, (void)njoined;
	int64_t now = mono_ns();
	printf("{\"type\":\"install\",\"node\":\"%s\",\"mono_ns\":%" PRId64 ",\"members\":%zu,\"conf\":\"cpg\",\"reason\":\"%s\"}\n",
	       opt.node, now, nmembers, nleft ? reason_name(left[0].reason) : njoined ? "join" : "");
	if (st.ready) {
		if (now < st.window_end) /* not the others leaving at the end */
			st.conf_changes++;
	} else if ((int)nmembers == opt.nodes) {
		st.ready = 1;
		st.start = now + opt.settle;
		st.window_start = st.start + opt.warmup;
		st.window_end = st.window_start + opt.duration;
		st.stop = st.window_end + opt.drain;
		printf("{\"type\":\"ready\",\"node\":\"%s\",\"mono_ns\":%" PRId64 ",\"members\":%zu,\"conf\":\"cpg\"}\n", opt.node, now, nmembers);
	}
	fflush(stdout);
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static double quantile_us(double q)
{
	if (!st.nlat)
		return 0;
	long k = (long)(q * st.nlat + 0.5) - 1;
	if (k < 0)
		k = 0;
	if ((size_t)k >= st.nlat)
		k = st.nlat - 1;
	return st.lat[k] / 1e3;
}

static void report(void)
{
	if (opt.samples) {
		FILE *f = fopen(opt.samples, "wb");
		if (!f) {
			perror(opt.samples);
			exit(1);
		}
		unsigned char b[8];
		for (size_t i = 0; i < st.nlat; i++) {
			put_u64(b, (uint64_t)st.lat[i]);
			fwrite(b, 1, 8, f);
		}
		if (fclose(f) != 0) {
			perror(opt.samples);
			exit(1);
		}
	}
	qsort(st.lat, st.nlat, sizeof *st.lat, cmp64);
	printf("{\"type\":\"result\",\"node\":\"%s\",\"sent\":%" PRIu64 ",\"backpressured\":%" PRIu64
	       ",\"delivered\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"window_s\":%.6f"
	       ",\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f"
	       ",\"cpu_s\":%.2f,\"cpu_window_s\":%.6f,\"max_rss_kib\":%ld,\"daemon_cpu_s\":%.2f,\"daemon_max_rss_kib\":%ld"
	       ",\"retransmits\":0,\"retransmit_requests\":0,\"token_retransmits\":0,\"token_losses\":0,\"seal_rejected\":0"
	       ",\"conf_changes\":%d%s%s%s}\n",
	       opt.node, st.sent, st.backpressured, st.delivered, st.bytes, opt.duration / 1e9,
	       quantile_us(0.5), quantile_us(0.99), quantile_us(0.999),
	       st.cpu, st.cpu_window, proc_hwm(0), st.daemon_cpu, opt.daemon_pid ? proc_hwm(opt.daemon_pid) : 0,
	       st.conf_changes, opt.samples ? ",\"samples\":\"" : "", opt.samples ? opt.samples : "", opt.samples ? "\"" : "");
	fflush(stdout);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: cpgload --nodes N --index I [--node NAME] [--group NAME] [--send] [--rate MSGS_PER_S (0: max)]\n"
		"               [--size BYTES] [--settle-ms MS] [--warmup-ms MS] [--duration-ms MS] [--drain-ms MS]\n"
		"               [--form-timeout-ms MS] [--samples FILE] [--daemon-pid PID]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"group", 1, 0, 'g'}, {"node", 1, 0, 'n'}, {"nodes", 1, 0, 'N'}, {"index", 1, 0, 'i'},
		{"size", 1, 0, 's'}, {"send", 0, 0, 'S'}, {"rate", 1, 0, 'r'}, {"settle-ms", 1, 0, 1},
		{"warmup-ms", 1, 0, 2}, {"duration-ms", 1, 0, 3}, {"drain-ms", 1, 0, 4},
		{"form-timeout-ms", 1, 0, 5}, {"samples", 1, 0, 'o'}, {"daemon-pid", 1, 0, 'p'}, {0, 0, 0, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'g': opt.group = optarg; break;
		case 'n': opt.node = optarg; break;
		case 'N': opt.nodes = atoi(optarg); break;
		case 'i': opt.index = atoi(optarg); break;
		case 's': opt.size = atoi(optarg); break;
		case 'S': opt.send = 1; break;
		case 'r': opt.rate = atof(optarg); break;
		case 1: opt.settle = atoll(optarg) * MS; break;
		case 2: opt.warmup = atoll(optarg) * MS; break;
		case 3: opt.duration = atoll(optarg) * MS; break;
		case 4: opt.drain = atoll(optarg) * MS; break;
		case 5: opt.form_timeout = atoll(optarg) * MS; break;
		case 'o': opt.samples = optarg; break;
		case 'p': opt.daemon_pid = atoi(optarg); break;
		default: usage();
		}
	}
	if (opt.nodes < 1 || opt.size < HEADER_LEN || opt.rate < 0 || optind != argc)
		usage();
	signal(SIGPIPE, SIG_IGN);

	cpg_callbacks_t cb = {.cpg_deliver_fn = deliver, .cpg_confchg_fn = confchg};
	cpg_handle_t h;
	struct cpg_name name;
	name.length = strlen(opt.group);
	if (name.length >= CPG_MAX_NAME_LENGTH)
		usage();
	memcpy(name.value, opt.group, name.length);

	/* corosync may still be starting: retry until the form timeout */
	int64_t give_up = mono_ns() + opt.form_timeout;
	cs_error_t err;
	while ((err = cpg_initialize(&h, &cb)) != CS_OK) {
		if (mono_ns() > give_up)
			die("cpg_initialize", err);
		usleep(100000);
	}
	while ((err = cpg_join(h, &name)) != CS_OK) {
		if (err != CS_ERR_TRY_AGAIN || mono_ns() > give_up)
			die("cpg_join", err);
		usleep(10000);
	}
	int fd;
	if ((err = cpg_fd_get(h, &fd)) != CS_OK)
		die("cpg_fd_get", err);

	unsigned char *msg = calloc(1, opt.size);
	struct iovec iov = {.iov_base = msg, .iov_len = opt.size};
	int64_t interval = opt.rate > 0 ? (int64_t)(1e9 / opt.rate) : 0;
	int64_t next = 0;
	for (;;) {
		int64_t now = mono_ns();
		if (!st.ready && now > give_up) {
			fprintf(stderr, "cpgload %s: the group did not reach %d members within %" PRId64 " ms\n",
				opt.node, opt.nodes, (int64_t)(opt.form_timeout / MS));
			return 1;
		}
		if (st.ready && !st.cpu_started && now >= st.window_start) {
			st.cpu_started = 1;
			st.cpu_window_start = now / 1e9;
			st.cpu_start = proc_cpu(0);
			st.daemon_cpu_start = opt.daemon_pid ? proc_cpu(opt.daemon_pid) : 0;
		}
		if (st.cpu_started && !st.cpu_done && now >= st.window_end) {
			st.cpu_done = 1;
			st.cpu_window = now / 1e9 - st.cpu_window_start;
			st.cpu = proc_cpu(0) - st.cpu_start;
			st.daemon_cpu = opt.daemon_pid ? proc_cpu(opt.daemon_pid) - st.daemon_cpu_start : 0;
		}
		if (st.ready && now >= st.stop)
			break;

		/* send what is due */
		int64_t wait = 100 * MS;
		if (st.ready && opt.send && now >= st.start && now < st.window_end) {
			if (!next)
				next = st.start;
			for (int burst = 0; burst < 256 && (!interval || next <= now); burst++) {
				put_u32(msg, MAGIC);
				put_u32(msg + 4, opt.index);
				put_u64(msg + 8, st.sent + 1);
				put_u64(msg + 16, mono_ns());
				err = cpg_mcast_joined(h, CPG_TYPE_AGREED, &iov, 1);
				if (err == CS_ERR_TRY_AGAIN) {
					if (interval) { /* an offered message refused by flow control */
						st.backpressured++;
						next += interval;
					}
					break;
				}
				if (err != CS_OK)
					die("cpg_mcast_joined", err);
				st.sent++;
				next += interval;
			}
			wait = interval ? next - mono_ns() : 0;
		} else if (st.ready) {
			int64_t t = now < st.start ? st.start : now < st.window_start ? st.window_start : now < st.window_end ? st.window_end : st.stop;
			wait = t - now;
		}
		if (wait < 0)
			wait = 0;
		if (wait > 100 * MS)
			wait = 100 * MS;
		/* at full load, wait a little for flow control to open */
		if (opt.send && !interval && st.ready && now >= st.start && now < st.window_end)
			wait = 200000; /* 200 µs */
		struct pollfd p = {.fd = fd, .events = POLLIN};
		struct timespec ts = {.tv_sec = wait / 1000000000LL, .tv_nsec = wait % 1000000000LL};
		int r = ppoll(&p, 1, &ts, NULL);
		if (r < 0 && errno != EINTR) {
			perror("cpgload: ppoll");
			return 1;
		}
		if (r > 0 && (err = cpg_dispatch(h, CS_DISPATCH_ALL)) != CS_OK)
			die("cpg_dispatch (corosync went away?)", err);
	}
	report();
	cpg_leave(h, &name);
	cpg_finalize(h);
	return 0;
}
