/*
 * sim_probe - a small driver-API and NVML client used by the simulator's
 * integration tests (tests/integration/sim_*.sh). Each subcommand does one
 * thing a real program would do against libcuda.so.1 / libnvidia-ml.so.1
 * and prints key=value lines the scripts check. It links the simulated
 * libraries by their real names, as an application would.
 *
 *   sim_probe init                      cuInit; prints the result name
 *   sim_probe nvmlinit                  nvmlInit_v2; prints the result
 *   sim_probe enum                      devices as CUDA and NVML see them
 *   sim_probe alloc DEV BYTES HOLD_MS   allocate on DEV, hold, exit 0 / 3 (OOM)
 *   sim_probe procs DEV                 NVML compute processes
 *   sim_probe mem DEV                   NVML memory info (v1 and v2)
 *   sim_probe busy DEV USEC SECONDS     back-to-back busy kernels, 4 in flight
 *   sim_probe duty DEV USEC PERIOD_US SECONDS   one busy kernel per period
 *   sim_probe util DEV                  NVML device and per-process utilisation
 *   sim_probe waitxid DEV TIMEOUT_MS    wait for one XID event, print when
 *   sim_probe injectxid DEV CODE        inject an XID, print when
 *   sim_probe peak DEV                  the simulator's used/peak accounting
 */
#include "cuda/cuda_abi.h"
#include "cuda/nvml_abi.h"
#include "sim/simstate.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *cu_name(CUresult rc)
{
	const char *n = NULL;
	cuGetErrorName(rc, &n);
	return n ? n : "?";
}

#define CU(call)                                                                                   \
	do {                                                                                       \
		CUresult rc_ = (call);                                                             \
		if (rc_ != CUDA_SUCCESS) {                                                         \
			fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,              \
			        cu_name(rc_));                                                     \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

#define NV(call)                                                                                   \
	do {                                                                                       \
		nvmlReturn_t rc_ = (call);                                                         \
		if (rc_ != NVML_SUCCESS) {                                                         \
			fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,              \
			        nvmlErrorString(rc_));                                             \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void sleep_until_mono(uint64_t t)
{
	struct timespec ts = {(time_t)(t / 1000000000ULL), (long)(t % 1000000000ULL)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
		;
}

static CUcontext primary(int dev)
{
	CUdevice d;
	CUcontext ctx;
	CU(cuInit(0));
	CU(cuDeviceGet(&d, dev));
	CU(cuDevicePrimaryCtxRetain(&ctx, d));
	CU(cuCtxSetCurrent(ctx));
	return ctx;
}

static CUfunction kernel(const char *name)
{
	static const char image[] = "simulated module image";
	CUmodule mod;
	CUfunction f;
	CU(cuModuleLoadData(&mod, image));
	CU(cuModuleGetFunction(&f, mod, name));
	return f;
}

static int cmd_enum(void)
{
	int n;
	CU(cuInit(0));
	CU(cuDeviceGetCount(&n));
	printf("cuda count=%d\n", n);
	for (int i = 0; i < n; i++) {
		CUdevice d;
		char name[128], bus[32];
		size_t mem;
		int sms, major, minor;
		CUuuid u;
		CU(cuDeviceGet(&d, i));
		CU(cuDeviceGetName(name, sizeof(name), d));
		CU(cuDeviceTotalMem_v2(&mem, d));
		CU(cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, d));
		CU(cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d));
		CU(cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d));
		CU(cuDeviceGetPCIBusId(bus, sizeof(bus), d));
		CU(cuDeviceGetUuid_v2(&u, d));
		CUdevice back;
		CU(cuDeviceGetByPCIBusId(&back, bus));
		printf("cuda dev=%d name=\"%s\" mem=%zu sms=%d cc=%d.%d bus=%s uuid0=%02x "
		       "back=%d\n",
		       i, name, mem, sms, major, minor, bus, (unsigned char)u.bytes[0], back);
	}
	unsigned int count;
	NV(nvmlInit_v2());
	NV(nvmlDeviceGetCount_v2(&count));
	char drv[80];
	int cudav;
	NV(nvmlSystemGetDriverVersion(drv, sizeof(drv)));
	NV(nvmlSystemGetCudaDriverVersion(&cudav));
	printf("nvml count=%u driver=%s cuda=%d\n", count, drv, cudav);
	for (unsigned int i = 0; i < count; i++) {
		nvmlDevice_t h, back;
		char name[96], uuid[96];
		nvmlPciInfo_t pci;
		nvmlMemory_t mem;
		unsigned int numa = 0, minor, index;
		NV(nvmlDeviceGetHandleByIndex_v2(i, &h));
		NV(nvmlDeviceGetName(h, name, sizeof(name)));
		NV(nvmlDeviceGetUUID(h, uuid, sizeof(uuid)));
		NV(nvmlDeviceGetPciInfo_v3(h, &pci));
		NV(nvmlDeviceGetMemoryInfo(h, &mem));
		NV(nvmlDeviceGetMinorNumber(h, &minor));
		nvmlReturn_t nr = nvmlDeviceGetNumaNodeId(h, &numa);
		NV(nvmlDeviceGetHandleByUUID(uuid, &back));
		NV(nvmlDeviceGetIndex(back, &index));
		NV(nvmlDeviceGetHandleByPciBusId_v2(pci.busId, &back));
		int links = 0;
		char peers[256] = "";
		for (unsigned int l = 0; l < NVML_NVLINK_MAX_LINKS; l++) {
			nvmlEnableState_t st;
			if (nvmlDeviceGetNvLinkState(h, l, &st) != NVML_SUCCESS ||
			    st != NVML_FEATURE_ENABLED)
				continue;
			nvmlPciInfo_t remote;
			NV(nvmlDeviceGetNvLinkRemotePciInfo_v2(h, l, &remote));
			links++;
			size_t len = strlen(peers);
			snprintf(peers + len, sizeof(peers) - len, "%s%s", len ? "," : "",
			         remote.busId);
		}
		printf("nvml dev=%u name=\"%s\" uuid=%s bus=%s mem=%llu minor=%u numa=%d "
		       "byuuid=%u nvlinks=%d peers=%s\n",
		       i, name, uuid, pci.busId, mem.total, minor,
		       nr == NVML_SUCCESS ? (int)numa : -1, index, links, peers);
	}
	for (unsigned int a = 0; a < count; a++) {
		for (unsigned int b = 0; b < count; b++) {
			nvmlDevice_t ha, hb;
			nvmlGpuTopologyLevel_t lvl;
			NV(nvmlDeviceGetHandleByIndex_v2(a, &ha));
			NV(nvmlDeviceGetHandleByIndex_v2(b, &hb));
			NV(nvmlDeviceGetTopologyCommonAncestor(ha, hb, &lvl));
			printf("topo %u %u %d\n", a, b, (int)lvl);
		}
	}
	NV(nvmlShutdown());
	return 0;
}

static int cmd_alloc(int dev, unsigned long long bytes, unsigned long long hold_ms)
{
	primary(dev);
	CUdeviceptr p;
	CUresult rc = cuMemAlloc_v2(&p, (size_t)bytes);
	if (rc == CUDA_ERROR_OUT_OF_MEMORY) {
		printf("alloc oom\n");
		fflush(stdout);
		return 3;
	}
	CU(rc);
	/* Touch the first and last page: the memory is real. */
	CU(cuMemsetD8_v2(p, 0x5a, 4096));
	CU(cuMemsetD8_v2(p + bytes - 4096, 0xa5, 4096));
	printf("alloc ok pid=%d\n", (int)getpid());
	fflush(stdout);
	usleep((useconds_t)(hold_ms * 1000));
	CU(cuMemFree_v2(p));
	return 0;
}

static int cmd_procs(int dev)
{
	nvmlDevice_t h;
	NV(nvmlInit_v2());
	NV(nvmlDeviceGetHandleByIndex_v2((unsigned int)dev, &h));
	unsigned int n = 0;
	nvmlReturn_t rc = nvmlDeviceGetComputeRunningProcesses_v3(h, &n, NULL);
	if (rc != NVML_SUCCESS && rc != NVML_ERROR_INSUFFICIENT_SIZE)
		NV(rc);
	nvmlProcessInfo_t *infos = calloc(n + 1, sizeof(*infos));
	n += 1;
	NV(nvmlDeviceGetComputeRunningProcesses_v3(h, &n, infos));
	for (unsigned int i = 0; i < n; i++)
		printf("proc pid=%u used=%llu\n", infos[i].pid, infos[i].usedGpuMemory);
	printf("count=%u\n", n);
	free(infos);
	NV(nvmlShutdown());
	return 0;
}

static int cmd_mem(int dev)
{
	nvmlDevice_t h;
	nvmlMemory_t m;
	nvmlMemory_v2_t m2 = {.version = nvmlMemory_v2};
	NV(nvmlInit_v2());
	NV(nvmlDeviceGetHandleByIndex_v2((unsigned int)dev, &h));
	NV(nvmlDeviceGetMemoryInfo(h, &m));
	NV(nvmlDeviceGetMemoryInfo_v2(h, &m2));
	printf("mem total=%llu used=%llu free=%llu v2total=%llu v2used=%llu v2free=%llu "
	       "v2reserved=%llu\n",
	       m.total, m.used, m.free, m2.total, m2.used, m2.free, m2.reserved);
	NV(nvmlShutdown());
	return 0;
}

/* Back-to-back busy kernels keeping BUSY_DEPTH in flight, so the device
 * never idles waiting for this host thread while it is descheduled for less
 * than (BUSY_DEPTH - 1) kernels' time. */
#define BUSY_DEPTH 4

static int cmd_busy(int dev, unsigned long long usec, double seconds)
{
	primary(dev);
	CUfunction f = kernel("busy");
	CUevent ev[BUSY_DEPTH];
	for (int i = 0; i < BUSY_DEPTH; i++)
		CU(cuEventCreate(&ev[i], CU_EVENT_DISABLE_TIMING));
	uint64_t end = mono_ns() + (uint64_t)(seconds * 1e9);
	unsigned long long n = 0;
	uint64_t arg = usec;
	void *params[] = {&arg};
	while (mono_ns() < end) {
		CU(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, params, NULL));
		CU(cuEventRecord(ev[n % BUSY_DEPTH], NULL));
		n++;
		if (n >= BUSY_DEPTH)
			CU(cuEventSynchronize(ev[n % BUSY_DEPTH])); /* the oldest in flight */
	}
	CU(cuCtxSynchronize());
	printf("launched=%llu\n", n);
	return 0;
}

/* One busy kernel at the start of every period, on an absolute schedule:
 * a late wake-up delays one kernel but not the ones after it. */
static int cmd_duty(int dev, unsigned long long usec, unsigned long long period_us, double seconds)
{
	primary(dev);
	CUfunction f = kernel("busy");
	uint64_t arg = usec;
	void *params[] = {&arg};
	uint64_t t0 = mono_ns();
	uint64_t periods = (uint64_t)(seconds * 1e6 / (double)period_us);
	for (uint64_t k = 0; k < periods; k++) {
		sleep_until_mono(t0 + k * period_us * 1000);
		CU(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, params, NULL));
	}
	CU(cuCtxSynchronize());
	printf("launched=%llu\n", (unsigned long long)periods);
	return 0;
}

static int cmd_util(int dev)
{
	nvmlDevice_t h;
	nvmlUtilization_t u;
	NV(nvmlInit_v2());
	NV(nvmlDeviceGetHandleByIndex_v2((unsigned int)dev, &h));
	NV(nvmlDeviceGetUtilizationRates(h, &u));
	printf("gpu=%u\n", u.gpu);
	unsigned long long since = realtime_ns() / 1000 - 1000000; /* the last second */
	unsigned int n = 0;
	nvmlReturn_t rc = nvmlDeviceGetProcessUtilization(h, NULL, &n, since);
	if (rc == NVML_ERROR_NOT_FOUND) {
		printf("samples=0\n");
		NV(nvmlShutdown());
		return 0;
	}
	if (rc != NVML_ERROR_INSUFFICIENT_SIZE)
		NV(rc);
	nvmlProcessUtilizationSample_t *s = calloc(n, sizeof(*s));
	NV(nvmlDeviceGetProcessUtilization(h, s, &n, since));
	for (unsigned int i = 0; i < n; i++)
		printf("pid=%u sm=%u\n", s[i].pid, s[i].smUtil);
	printf("samples=%u\n", n);
	free(s);
	NV(nvmlShutdown());
	return 0;
}

static int cmd_waitxid(int dev, unsigned int timeout_ms)
{
	nvmlDevice_t h;
	nvmlEventSet_t set;
	nvmlEventData_t data;
	NV(nvmlInit_v2());
	NV(nvmlDeviceGetHandleByIndex_v2((unsigned int)dev, &h));
	NV(nvmlEventSetCreate(&set));
	NV(nvmlDeviceRegisterEvents(h, nvmlEventTypeXidCriticalError, set));
	printf("ready\n");
	fflush(stdout);
	nvmlReturn_t rc = nvmlEventSetWait_v2(set, &data, timeout_ms);
	uint64_t at = realtime_ns();
	if (rc == NVML_ERROR_TIMEOUT) {
		printf("timeout\n");
		return 4;
	}
	NV(rc);
	unsigned int idx;
	NV(nvmlDeviceGetIndex(data.device, &idx));
	printf("event type=%llu xid=%llu dev=%u at_ns=%llu\n", data.eventType, data.eventData, idx,
	       (unsigned long long)at);
	NV(nvmlEventSetFree(set));
	NV(nvmlShutdown());
	return 0;
}

static int open_state(struct vxpu_sim_state *st)
{
	char err[512];
	if (vxpu_sim_open_env(st, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static int cmd_injectxid(int dev, unsigned long long code)
{
	struct vxpu_sim_state st;
	if (open_state(&st) != 0)
		return 1;
	uint64_t at = realtime_ns();
	vxpu_sim_inject_xid(&st, dev, code);
	printf("inject at_ns=%llu\n", (unsigned long long)at);
	vxpu_sim_close(&st);
	return 0;
}

static int cmd_peak(int dev)
{
	struct vxpu_sim_state st;
	if (open_state(&st) != 0)
		return 1;
	vxpu_sim_reap(&st);
	printf("used=%" PRIu64 " peak=%" PRIu64 "\n", vxpu_sim_mem_used(&st, dev),
	       vxpu_sim_mem_peak(&st, dev));
	vxpu_sim_close(&st);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: sim_probe COMMAND [ARGS]\n");
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "init") == 0) {
		CUresult rc = cuInit(0);
		printf("cuInit=%s\n", cu_name(rc));
		return rc == CUDA_SUCCESS ? 0 : 1;
	}
	if (strcmp(cmd, "nvmlinit") == 0) {
		nvmlReturn_t rc = nvmlInit_v2();
		printf("nvmlInit=%d\n", (int)rc);
		if (rc == NVML_SUCCESS)
			nvmlShutdown();
		return rc == NVML_SUCCESS ? 0 : 1;
	}
	if (strcmp(cmd, "enum") == 0)
		return cmd_enum();
	if (strcmp(cmd, "alloc") == 0 && argc == 5)
		return cmd_alloc(atoi(argv[2]), strtoull(argv[3], NULL, 0),
		                 strtoull(argv[4], NULL, 0));
	if (strcmp(cmd, "procs") == 0 && argc == 3)
		return cmd_procs(atoi(argv[2]));
	if (strcmp(cmd, "mem") == 0 && argc == 3)
		return cmd_mem(atoi(argv[2]));
	if (strcmp(cmd, "busy") == 0 && argc == 5)
		return cmd_busy(atoi(argv[2]), strtoull(argv[3], NULL, 0), atof(argv[4]));
	if (strcmp(cmd, "duty") == 0 && argc == 6)
		return cmd_duty(atoi(argv[2]), strtoull(argv[3], NULL, 0),
		                strtoull(argv[4], NULL, 0), atof(argv[5]));
	if (strcmp(cmd, "util") == 0 && argc == 3)
		return cmd_util(atoi(argv[2]));
	if (strcmp(cmd, "waitxid") == 0 && argc == 4)
		return cmd_waitxid(atoi(argv[2]), (unsigned int)atoi(argv[3]));
	if (strcmp(cmd, "injectxid") == 0 && argc == 4)
		return cmd_injectxid(atoi(argv[2]), strtoull(argv[3], NULL, 0));
	if (strcmp(cmd, "peak") == 0 && argc == 3)
		return cmd_peak(atoi(argv[2]));
	fprintf(stderr, "sim_probe: unknown command or arguments: %s\n", cmd);
	return 2;
}
