// Command validate builds every Kustomize overlay of deploy/kubernetes (the
// kustomize library, as `kustomize build` does) and checks each resource
// offline: strict decoding into the upstream Kubernetes, Prometheus-operator
// and Strimzi shapes (unknown or mistyped fields fail), then the operational
// rules schedbridge relies on (probes, limits, security context, graceful
// shutdown budget, selectors that match).
//
//	go run ./deploy/validate deploy/kubernetes
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// KafkaTopic is Strimzi's kafka.strimzi.io/v1beta2 KafkaTopic, the fields we use.
type KafkaTopic struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace,omitempty"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations,omitempty"`
	} `json:"metadata"`
	Spec struct {
		TopicName  string                 `json:"topicName,omitempty"`
		Partitions int32                  `json:"partitions"`
		Replicas   int32                  `json:"replicas"`
		Config     map[string]interface{} `json:"config,omitempty"`
	} `json:"spec"`
}

type rendered struct {
	deployments  []appsv1.Deployment
	statefulsets []appsv1.StatefulSet
	services     []corev1.Service
	pdbs         []policyv1.PodDisruptionBudget
	hpas         []autoscalingv2.HorizontalPodAutoscaler
	configMaps   map[string]bool
	configs      []string // config.yaml of each ConfigMap that has one
	topics       []KafkaTopic
	monitors     []monitoringv1.ServiceMonitor
	alertRules   []monitoringv1.PrometheusRule
}

func strict(doc []byte, into interface{}) error {
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}

func decode(doc []byte, r *rendered) error {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return err
	}
	id := head.APIVersion + " " + head.Kind + " " + head.Metadata.Name
	wrap := func(err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		return nil
	}
	switch head.APIVersion + "/" + head.Kind {
	case "apps/v1/Deployment":
		var d appsv1.Deployment
		if err := strict(doc, &d); err != nil {
			return wrap(err)
		}
		r.deployments = append(r.deployments, d)
	case "apps/v1/StatefulSet":
		var st appsv1.StatefulSet
		if err := strict(doc, &st); err != nil {
			return wrap(err)
		}
		r.statefulsets = append(r.statefulsets, st)
	case "v1/Service":
		var s corev1.Service
		if err := strict(doc, &s); err != nil {
			return wrap(err)
		}
		r.services = append(r.services, s)
	case "v1/ServiceAccount":
		return wrap(strict(doc, &corev1.ServiceAccount{}))
	case "v1/ConfigMap":
		var c corev1.ConfigMap
		if err := strict(doc, &c); err != nil {
			return wrap(err)
		}
		r.configMaps[c.Name] = true
		if cfg, ok := c.Data["config.yaml"]; ok {
			var parsed map[string]interface{}
			if err := yaml.Unmarshal([]byte(cfg), &parsed); err != nil {
				return wrap(fmt.Errorf("config.yaml: %w", err))
			}
			r.configs = append(r.configs, cfg)
		}
	case "v1/Secret":
		return wrap(strict(doc, &corev1.Secret{}))
	case "policy/v1/PodDisruptionBudget":
		var p policyv1.PodDisruptionBudget
		if err := strict(doc, &p); err != nil {
			return wrap(err)
		}
		r.pdbs = append(r.pdbs, p)
	case "autoscaling/v2/HorizontalPodAutoscaler":
		var h autoscalingv2.HorizontalPodAutoscaler
		if err := strict(doc, &h); err != nil {
			return wrap(err)
		}
		r.hpas = append(r.hpas, h)
	case "networking.k8s.io/v1/NetworkPolicy":
		return wrap(strict(doc, &networkingv1.NetworkPolicy{}))
	case "monitoring.coreos.com/v1/ServiceMonitor":
		var m monitoringv1.ServiceMonitor
		if err := strict(doc, &m); err != nil {
			return wrap(err)
		}
		r.monitors = append(r.monitors, m)
	case "monitoring.coreos.com/v1/PrometheusRule":
		var p monitoringv1.PrometheusRule
		if err := strict(doc, &p); err != nil {
			return wrap(err)
		}
		r.alertRules = append(r.alertRules, p)
	case "kafka.strimzi.io/v1beta2/KafkaTopic":
		var t KafkaTopic
		if err := strict(doc, &t); err != nil {
			return wrap(err)
		}
		r.topics = append(r.topics, t)
	default:
		return fmt.Errorf("%s: a kind this validator does not know", id)
	}
	return nil
}

// rules are the operational expectations; each returns problems found.
func rules(r *rendered) []string {
	var problems []string
	add := func(format string, args ...interface{}) { problems = append(problems, fmt.Sprintf(format, args...)) }
	// The workload: one Deployment, or one StatefulSet (the spool overlay).
	var (
		kind, name string
		pod        corev1.PodTemplateSpec
		selector   *metav1.LabelSelector
	)
	switch {
	case len(r.deployments) == 1 && len(r.statefulsets) == 0:
		d := r.deployments[0]
		kind, name, pod, selector = "Deployment", d.Name, d.Spec.Template, d.Spec.Selector
	case len(r.statefulsets) == 1 && len(r.deployments) == 0:
		st := r.statefulsets[0]
		kind, name, pod, selector = "StatefulSet", st.Name, st.Spec.Template, st.Spec.Selector
	default:
		add("want exactly one Deployment or StatefulSet, got %d and %d", len(r.deployments), len(r.statefulsets))
		return problems
	}
	sel, err := labels.ValidatedSelectorFromSet(selector.MatchLabels)
	if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
		add("%s selector does not match its pod labels", kind)
	}
	if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
		add("enableServiceLinks must be false (SCHEDBRIDGE_KAFKA_* injection)")
	}
	psc := pod.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		add("pod must run as non-root")
	}
	if len(pod.Spec.Containers) != 1 {
		add("want one container")
		return problems
	}
	c := pod.Spec.Containers[0]
	// Probes and metrics live on the admin port; the webhook port serves webhooks.
	probe := func(name string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "admin" {
			add("%s probe must GET %s on the admin port", name, path)
		}
	}
	ports := map[string]bool{}
	for _, p := range c.Ports {
		ports[p.Name] = true
	}
	if !ports["http"] || !ports["admin"] {
		add("container needs the ports http (webhooks) and admin (metrics, probes)")
	}
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("liveness", c.LivenessProbe, "/healthz")
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		add("container needs cpu/memory requests and a memory limit")
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		add("container needs readOnlyRootFilesystem and no privilege escalation")
	}
	// preStop + ack_timeout (10 s) + flush (5 s) must fit the grace period.
	preStop := int64(0)
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Exec != nil {
		cmd := c.Lifecycle.PreStop.Exec.Command
		if len(cmd) == 2 && cmd[0] == "sleep" {
			fmt.Sscanf(cmd[1], "%d", &preStop)
		}
	}
	if preStop == 0 {
		add("container needs a preStop sleep so endpoints drain before SIGTERM")
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || *g < preStop+15 {
		add("terminationGracePeriodSeconds must cover preStop + ack timeout + flush (%d s)", preStop+15)
	}
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap != nil && !r.configMaps[v.ConfigMap.Name] {
			add("volume %s refers to a ConfigMap that is not rendered: %s", v.Name, v.ConfigMap.Name)
		}
	}
	for _, s := range r.services {
		if !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			add("Service %s does not select the pods", s.Name)
		}
	}
	for _, p := range r.pdbs {
		s, err := labels.ValidatedSelectorFromSet(p.Spec.Selector.MatchLabels)
		if err != nil || !s.Matches(labels.Set(pod.Labels)) {
			add("PodDisruptionBudget %s does not select the pods", p.Name)
		}
	}
	for _, h := range r.hpas {
		if h.Spec.ScaleTargetRef.Name != name || h.Spec.ScaleTargetRef.Kind != kind {
			add("HPA %s does not target the %s", h.Name, kind)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
			add("HPA %s replica bounds are inverted", h.Name)
		}
	}
	if len(r.monitors) != 1 || len(r.monitors[0].Spec.Endpoints) == 0 || r.monitors[0].Spec.Endpoints[0].Path != "/metrics" ||
		r.monitors[0].Spec.Endpoints[0].Port != "admin" {
		add("want one ServiceMonitor scraping /metrics on the admin port")
	} else {
		// Exactly one Service the monitor selects may carry the admin port, or
		// every pod is scraped twice.
		sel, _ := metav1.LabelSelectorAsSelector(&r.monitors[0].Spec.Selector)
		scraped := 0
		for _, svc := range r.services {
			for _, p := range svc.Spec.Ports {
				if p.Name == "admin" && sel != nil && sel.Matches(labels.Set(svc.Labels)) {
					scraped++
				}
			}
		}
		if scraped != 1 {
			add("the ServiceMonitor must select exactly one Service with an admin port (found %d)", scraped)
		}
	}
	problems = append(problems, spoolRules(r, kind, c)...)
	problems = append(problems, alertRules(r)...)
	names := map[string]KafkaTopic{}
	for _, t := range r.topics {
		if t.Spec.Partitions < 1 || t.Spec.Replicas < 1 || t.Metadata.Labels["strimzi.io/cluster"] == "" {
			add("KafkaTopic %s needs partitions, replicas and a strimzi.io/cluster label", t.Metadata.Name)
		}
		names[t.Spec.TopicName] = t
	}
	ev, okE := names["scheduling.events.v1"]
	dl, okD := names["scheduling.dlq.v1"]
	if !okE || !okD {
		add("want KafkaTopics scheduling.events.v1 and scheduling.dlq.v1")
	} else if number(dl.Spec.Config["retention.ms"]) <= number(ev.Spec.Config["retention.ms"]) {
		add("the dead-letter topic must be kept longer than the events topic")
	}
	return problems
}

// metricName finds the schedbridge metric names in a PromQL expression.
var metricName = regexp.MustCompile(`schedbridge_[a-z0-9_]+`)

// readmeText is the project README, the one list of metric names.
var readmeText string

// alertRules: one PrometheusRule whose every alert has an expression naming
// only metrics the README documents, a severity and a summary; and an alert
// on duplicate detection forgetting ids before its window ends.
func alertRules(r *rendered) []string {
	var problems []string
	add := func(format string, args ...interface{}) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(r.alertRules) != 1 {
		return []string{"want one PrometheusRule"}
	}
	evictions := false
	for _, g := range r.alertRules[0].Spec.Groups {
		for _, rule := range g.Rules {
			expr := rule.Expr.String()
			if rule.Alert == "" || expr == "" || rule.Labels["severity"] == "" || rule.Annotations["summary"] == "" {
				add("alert %q needs an expr, a severity label and a summary", rule.Alert)
			}
			for _, name := range metricName.FindAllString(expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
				if !strings.Contains(readmeText, "`"+base+"`") && !strings.Contains(readmeText, "`"+name+"`") {
					add("alert %s uses %s, which the README does not document", rule.Alert, name)
				}
			}
			evictions = evictions || strings.Contains(expr, "schedbridge_dedup_evicted_total")
		}
	}
	if !evictions {
		add("want an alert on schedbridge_dedup_evicted_total (replay protection shortened)")
	}
	return problems
}

// spoolRules: a config with an `ack: spool` source needs its journal on a
// volume that outlives the pod — a StatefulSet claim mounted at spool_dir,
// large enough for spool_max_bytes — and a governing Service.
func spoolRules(r *rendered, kind string, c corev1.Container) []string {
	var problems []string
	for _, text := range r.configs {
		var cfg struct {
			SpoolDir      string `json:"spool_dir"`
			SpoolMaxBytes int64  `json:"spool_max_bytes"`
			Sources       []struct {
				Ack string `json:"ack"`
			} `json:"sources"`
		}
		if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
			problems = append(problems, "config.yaml: "+err.Error())
			continue
		}
		spooled := false
		for _, s := range cfg.Sources {
			spooled = spooled || s.Ack == "spool"
		}
		if !spooled {
			continue
		}
		dir := cfg.SpoolDir
		if dir == "" {
			dir = "/var/lib/schedbridge/spool"
		}
		if kind != "StatefulSet" {
			problems = append(problems, "a source has ack: spool but the workload is a "+kind+": its journal would die with the pod (use a StatefulSet with a volumeClaimTemplate)")
			continue
		}
		st := r.statefulsets[0]
		var claim *corev1.PersistentVolumeClaim
		for _, m := range c.VolumeMounts {
			for i := range st.Spec.VolumeClaimTemplates {
				if t := &st.Spec.VolumeClaimTemplates[i]; t.Name == m.Name && m.MountPath == dir {
					claim = t
				}
			}
		}
		if claim == nil {
			problems = append(problems, "no volumeClaimTemplate is mounted at the spool directory "+dir)
			continue
		}
		size := claim.Spec.Resources.Requests.Storage()
		max := cfg.SpoolMaxBytes
		if max == 0 {
			max = 1 << 30
		}
		if size == nil || size.Value() < max {
			problems = append(problems, fmt.Sprintf("the spool claim (%v) is smaller than spool_max_bytes (%d)", size, max))
		}
		found := false
		for _, s := range r.services {
			found = found || (s.Name == st.Spec.ServiceName && s.Spec.ClusterIP == "None")
		}
		if !found {
			problems = append(problems, "StatefulSet serviceName "+st.Spec.ServiceName+" is not a rendered headless Service")
		}
	}
	return problems
}

// number reads a topic config value written as a YAML number or string.
func number(v interface{}) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case string:
		var f float64
		fmt.Sscanf(x, "%g", &f)
		return f
	}
	return 0
}

func build(dir string) (*rendered, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, err
	}
	out, err := res.AsYaml()
	if err != nil {
		return nil, err
	}
	r := &rendered{configMaps: map[string]bool{}}
	for _, doc := range strings.Split(string(out), "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		if err := decode([]byte(doc), r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func main() {
	root := "deploy/kubernetes"
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	readme, err := os.ReadFile(filepath.Join(root, "..", "..", "README.md"))
	if err != nil {
		fmt.Printf("FAIL: cannot read the README next to %s: %v\n", root, err)
		os.Exit(1)
	}
	readmeText = string(readme)
	dirs := []string{filepath.Join(root, "base")}
	overlays, _ := filepath.Glob(filepath.Join(root, "overlays", "*"))
	sort.Strings(overlays)
	dirs = append(dirs, overlays...)
	failed := 0
	for _, dir := range dirs {
		r, err := build(dir)
		if err != nil {
			fmt.Printf("FAIL %s: %v\n", dir, err)
			failed++
			continue
		}
		if problems := rules(r); len(problems) > 0 {
			for _, p := range problems {
				fmt.Printf("FAIL %s: %s\n", dir, p)
			}
			failed++
			continue
		}
		fmt.Printf("ok   %s: %d deployment, %d statefulset, %d service, %d pdb, %d hpa, %d topics, %d servicemonitor\n",
			dir, len(r.deployments), len(r.statefulsets), len(r.services), len(r.pdbs), len(r.hpas), len(r.topics), len(r.monitors))
	}
	fmt.Printf("%d passed, %d failed\n", len(dirs)-failed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
