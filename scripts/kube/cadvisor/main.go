// Command cadvisor is cAdvisor as the tests run it: google/cadvisor's own manager, container handlers and Prometheus
// collector, put together by a main of this project's own.
//
// Why a main of our own: upstream's binary lives in the module github.com/google/cadvisor/cmd, which the Go module
// proxy does not serve (404), while github.com/google/cadvisor (the docker and podman handlers) and
// github.com/google/cadvisor/lib (manager, metrics, raw/containerd/crio/systemd handlers, in-memory cache) are served.
// The kubelet itself embeds lib the same way (k8s.io/kubernetes pkg/kubelet/cadvisor/cadvisor_linux.go and
// pkg/kubelet/server/server.go), and so does this file: manager.New with the in-memory cache, the raw factory over
// every cgroup (or the --raw_cgroup_prefix_whitelist, as the kubelet passes its cgroup roots), the docker handler
// registered when --docker names an endpoint, and metrics.NewPrometheusCollector served on /metrics. The flag names
// are upstream's (cmd/cadvisor.go: --listen_ip, --port, --raw_cgroup_prefix_whitelist, --enable_metrics,
// --prometheus_endpoint; lib's own --housekeeping_interval, --max_housekeeping_interval,
// --allow_dynamic_housekeeping; the docker package's --docker endpoint), with two differences: --listen_ip defaults
// to 127.0.0.1, and the docker handler is registered only when --docker is given (upstream always registers it).
// --labels-file is ours (below).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/google/cadvisor/container/docker"
	"github.com/google/cadvisor/lib/cache/memory"
	"github.com/google/cadvisor/lib/container"
	"github.com/google/cadvisor/lib/manager"
	"github.com/google/cadvisor/lib/metrics"
	info "github.com/google/cadvisor/lib/model"
	"github.com/google/cadvisor/lib/utils/sysfs"

	// filesystem plugins, as the kubelet registers them
	_ "github.com/google/cadvisor/lib/fs/btrfs/install"
	_ "github.com/google/cadvisor/lib/fs/nfs/install"
	_ "github.com/google/cadvisor/lib/fs/overlay/install"
	_ "github.com/google/cadvisor/lib/fs/tmpfs/install"
	_ "github.com/google/cadvisor/lib/fs/vfs/install"
	_ "github.com/google/cadvisor/lib/fs/zfs/install"
)

var (
	argIP                    = flag.String("listen_ip", "127.0.0.1", "IP to listen on")
	argPort                  = flag.Int("port", 8080, "port to listen on")
	prometheusEndpoint       = flag.String("prometheus_endpoint", "/metrics", "endpoint to expose Prometheus metrics on")
	rawCgroupPrefixWhiteList = flag.String("raw_cgroup_prefix_whitelist", "", "comma-separated cgroup path prefixes the raw handler collects (empty: all cgroups)")
	labelsFile               = flag.String("labels-file", "", "JSON file {\"<cgroup name>\": {\"namespace\":..,\"pod\":..,\"container\":..}}: label the series as the kubelet does (container, pod, namespace, id, name, image); re-read when its mtime changes")
	storageDuration          = flag.Duration("storage_duration", 2*time.Minute, "how long to keep data in the in-memory cache (the kubelet's statsCacheDuration)")
	// the kubelet's metric set (pkg/kubelet/server/server.go), not upstream's larger default; pressure is added
	// in main() where the kernel has it
	enableMetrics = container.MetricSet{
		container.CpuUsageMetrics:     struct{}{},
		container.MemoryUsageMetrics:  struct{}{},
		container.DiskIOMetrics:       struct{}{},
		container.DiskUsageMetrics:    struct{}{},
		container.NetworkUsageMetrics: struct{}{},
		container.ProcessMetrics:      struct{}{},
		container.OOMMetrics:          struct{}{},
	}
)

func init() {
	flag.Var(&enableMetrics, "enable_metrics", fmt.Sprintf("comma-separated list of metrics to collect; options are %s", container.AllMetrics.String()))
	// the kubelet's overrides of cAdvisor's defaults (pkg/kubelet/cadvisor/cadvisor_linux.go): housekeeping every
	// 10s, at most every 15s; and no docker handler unless --docker names an endpoint
	for name, value := range map[string]string{"housekeeping_interval": "10s", "max_housekeeping_interval": "15s", "docker": ""} {
		f := flag.Lookup(name)
		if f == nil {
			panic("cAdvisor flag not found: " + name)
		}
		f.DefValue = value
		_ = f.Value.Set(value)
	}
}

func main() {
	klog.InitFlags(nil)
	defer klog.Flush()
	flag.Parse()

	// PSI, as the kubelet adds it (KubeletPSI): only where the unified hierarchy has cpu.pressure (cgroup v2)
	if _, set := enableMetricsSet(); !set {
		if f, err := os.Open("/sys/fs/cgroup/cpu.pressure"); err == nil {
			_ = f.Close()
			enableMetrics[container.PressureMetrics] = struct{}{}
		}
	}
	klog.V(1).Infof("metrics: %s", enableMetrics.String())

	if *docker.ArgDockerEndpoint != "" {
		// what github.com/google/cadvisor/container/docker/install does in its init(), here only on request
		if err := container.RegisterPlugin("docker", docker.NewPlugin()); err != nil {
			klog.Fatalf("registering the docker plugin: %v", err)
		}
	}

	housekeeping := manager.HousekeepingConfigFlags
	m, err := manager.New(memory.New(*storageDuration, nil), sysfs.NewRealSysFs(), housekeeping, enableMetrics,
		strings.Split(*rawCgroupPrefixWhiteList, ","), nil /* env metadata */, "" /* perf events */, 0 /* resctrl */)
	if err != nil {
		klog.Fatalf("creating the cAdvisor manager: %v", err)
	}
	if err := m.Start(); err != nil {
		klog.Fatalf("starting the cAdvisor manager: %v", err)
	}

	labelsFunc := metrics.DefaultContainerLabels
	var labels *labelsFromFile
	if *labelsFile != "" {
		labels = &labelsFromFile{path: *labelsFile}
		labelsFunc = labels.kubeletLabels
	}
	// the request the kubelet's /metrics/cadvisor makes (pkg/kubelet/server/server.go)
	opts := info.RequestOptions{IdType: info.TypeName, Count: 1, Recursive: true}
	registry := prometheus.NewRegistry()
	registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		metrics.NewPrometheusMachineCollector(m, enableMetrics),
		&reloadingCollector{Collector: metrics.NewPrometheusCollector(m, labelsFunc, enableMetrics, clock.RealClock{}, opts), labels: labels},
	)
	mux := http.NewServeMux()
	mux.Handle(*prometheusEndpoint, promhttp.HandlerFor(registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })

	addr := net.JoinHostPort(*argIP, strconv.Itoa(*argPort))
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		klog.Fatalf("listening on %s: %v", addr, err)
	}
	klog.Infof("cAdvisor (lib) serving %s on %s", *prometheusEndpoint, listener.Addr())

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-signals
		if err := m.Stop(); err != nil {
			klog.Errorf("stopping the manager: %v", err)
		}
		klog.Infof("exiting on %v", sig)
		klog.Flush()
		os.Exit(0)
	}()
	klog.Fatal(http.Serve(listener, mux))
}

// enableMetricsSet says whether --enable_metrics was given on the command line.
func enableMetricsSet() (string, bool) {
	var value string
	var set bool
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "enable_metrics" {
			value, set = f.Value.String(), true
		}
	})
	return value, set
}

// reloadingCollector re-reads the labels file (when its mtime or size changed) once per scrape, before the
// collector asks the labels function for each container's labels.
type reloadingCollector struct {
	prometheus.Collector
	labels *labelsFromFile
}

func (c *reloadingCollector) Collect(ch chan<- prometheus.Metric) {
	if c.labels != nil {
		c.labels.reload()
	}
	c.Collector.Collect(ch)
}

type podLabels struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	Container string `json:"container"`
}

// labelsFromFile gives a container the kubelet's labels from a file. The kubelet takes pod, namespace and container
// from the CRI labels the runtime attaches to each container (io.kubernetes.pod.name, ...), and a pod-level cgroup's
// from its pod manager (GetPodByCgroupfs); the tests' node agent has no CRI runtime, so it writes the same facts to
// this file, keyed by the cgroup name cAdvisor sees (e.g. /chaos-node/<pod uid>/<container id>).
type labelsFromFile struct {
	path    string
	mu      sync.RWMutex
	mtime   time.Time
	size    int64
	entries map[string]podLabels
}

func (l *labelsFromFile) reload() {
	st, err := os.Stat(l.path)
	if err != nil {
		l.mu.Lock()
		if l.entries != nil {
			klog.Warningf("labels file %s: %v; no pod labels", l.path, err)
		}
		l.entries, l.mtime, l.size = nil, time.Time{}, 0
		l.mu.Unlock()
		return
	}
	l.mu.RLock()
	same := st.ModTime().Equal(l.mtime) && st.Size() == l.size
	l.mu.RUnlock()
	if same {
		return
	}
	data, err := os.ReadFile(l.path)
	if err != nil {
		klog.Warningf("labels file %s: %v", l.path, err)
		return
	}
	entries := map[string]podLabels{}
	if len(strings.TrimSpace(string(data))) > 0 {
		if err := json.Unmarshal(data, &entries); err != nil {
			// a half-written file: keep the previous entries and try again at the next scrape
			klog.Warningf("labels file %s: %v", l.path, err)
			return
		}
	}
	l.mu.Lock()
	l.entries, l.mtime, l.size = entries, st.ModTime(), st.Size()
	l.mu.Unlock()
}

// kubeletLabels is the kubelet's containerPrometheusLabelsFunc (pkg/kubelet/server/server.go) with the pod facts
// from the file: every series carries id, name, image, pod, namespace and container (blank when unknown).
func (l *labelsFromFile) kubeletLabels(c *info.ContainerInfo) map[string]string {
	var name string
	if len(c.Aliases) > 0 {
		name = c.Aliases[0]
	}
	l.mu.RLock()
	p := l.entries[c.Name]
	l.mu.RUnlock()
	return map[string]string{
		metrics.LabelID:    c.Name,
		metrics.LabelName:  name,
		metrics.LabelImage: c.Spec.Image,
		"pod":              p.Pod,
		"namespace":        p.Namespace,
		"container":        p.Container,
	}
}
