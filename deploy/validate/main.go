// Command validate renders the Helm chart deploy/helm/schedbridge with each
// example values file (deploy/helm/examples/*.yaml) through `helm lint` and
// `helm template`, and checks every rendered object offline: strict decoding
// into the upstream Kubernetes, Prometheus-operator and Strimzi shapes
// (unknown or mistyped fields fail), then the operational rules schedbridge
// relies on (probes, limits, security context, graceful shutdown budget,
// selectors that match, no double scrape, Strimzi objects where Strimzi
// looks, no autoscaler on a spooled StatefulSet, alerts and a dashboard that
// name only documented metrics). From the repository root:
//
//	go run ./deploy/validate [--helm PATH] [--schedbridge BIN] [--promtool PATH [--alerts-only]] [deploy/helm/schedbridge]
//
// --schedbridge also runs `schedbridge serve --check-config` on every
// rendered config.yaml, with the mounted files stood in by temporary ones.
// --promtool also runs `promtool check rules` and `promtool test rules`
// (testdata/alerts.test.yaml) on the alert rules the chart renders.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// strimziMetadata is the metadata of Strimzi's custom resources, the fields we use.
type strimziMetadata struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// KafkaTopic is Strimzi's kafka.strimzi.io/v1beta2 KafkaTopic, the fields we use.
type KafkaTopic struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Metadata   strimziMetadata `json:"metadata"`
	Spec       struct {
		TopicName  string                 `json:"topicName,omitempty"`
		Partitions int32                  `json:"partitions"`
		Replicas   int32                  `json:"replicas"`
		Config     map[string]interface{} `json:"config,omitempty"`
	} `json:"spec"`
}

// KafkaUser is Strimzi's kafka.strimzi.io/v1beta2 KafkaUser, the fields we use.
type KafkaUser struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Metadata   strimziMetadata `json:"metadata"`
	Spec       struct {
		Authentication struct {
			Type string `json:"type"`
		} `json:"authentication"`
		Authorization struct {
			Type string `json:"type"`
			ACLs []struct {
				Resource struct {
					Type        string `json:"type"`
					Name        string `json:"name,omitempty"`
					PatternType string `json:"patternType,omitempty"`
				} `json:"resource"`
				Operations []string `json:"operations"`
				Host       string   `json:"host,omitempty"`
			} `json:"acls"`
		} `json:"authorization"`
		Template *struct {
			Secret *struct {
				Metadata struct {
					Labels      map[string]string `json:"labels,omitempty"`
					Annotations map[string]string `json:"annotations,omitempty"`
				} `json:"metadata"`
			} `json:"secret,omitempty"`
		} `json:"template,omitempty"`
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
	users        []KafkaUser
	monitors     []monitoringv1.ServiceMonitor
	alertRules   []monitoringv1.PrometheusRule
	ingresses    []networkingv1.Ingress
	dashboards   []string // Grafana dashboard JSON of each ConfigMap that has one
	cronJobs     []batchv1.CronJob
	netpols      []networkingv1.NetworkPolicy
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
		for key, value := range c.Data {
			if strings.HasSuffix(key, ".json") {
				r.dashboards = append(r.dashboards, value)
			}
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
		var np networkingv1.NetworkPolicy
		if err := strict(doc, &np); err != nil {
			return wrap(err)
		}
		r.netpols = append(r.netpols, np)
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
	case "networking.k8s.io/v1/Ingress":
		var in networkingv1.Ingress
		if err := strict(doc, &in); err != nil {
			return wrap(err)
		}
		r.ingresses = append(r.ingresses, in)
	case "batch/v1/CronJob":
		var c batchv1.CronJob
		if err := strict(doc, &c); err != nil {
			return wrap(err)
		}
		r.cronJobs = append(r.cronJobs, c)
	case "kafka.strimzi.io/v1beta2/KafkaUser":
		var u KafkaUser
		if err := strict(doc, &u); err != nil {
			return wrap(err)
		}
		r.users = append(r.users, u)
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
	problems := reconcileRules(r)
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
	// preStop + the longest webhook + shutdown_timeout_ms (twice when a spool
	// drains before the producer flushes).
	budget := preStop + shutdownBudget(r, kind == "StatefulSet")
	if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || *g < budget {
		add("terminationGracePeriodSeconds must cover preStop + ack timeout + shutdown (%d s)", budget)
	}
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap != nil && !r.configMaps[v.ConfigMap.Name] {
			add("volume %s refers to a ConfigMap that is not rendered: %s", v.Name, v.ConfigMap.Name)
		}
	}
	// Each Service selects the pods; at most one of them carries the metrics
	// (admin) port, or a monitor selecting both scrapes every pod twice.
	adminPort := int32(0)
	for _, p := range c.Ports {
		if p.Name == "admin" {
			adminPort = p.ContainerPort
		}
	}
	var metricsServices []string
	for _, s := range r.services {
		if !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			add("Service %s does not select the pods", s.Name)
			continue
		}
		for _, p := range s.Spec.Ports {
			if p.TargetPort.String() == "admin" || (adminPort != 0 && p.TargetPort.IntValue() == int(adminPort)) ||
				(p.TargetPort.String() == "0" && p.Port == adminPort) {
				metricsServices = append(metricsServices, s.Name)
			}
		}
	}
	if len(metricsServices) > 1 {
		add("Services %s all select the pods on the metrics port: every pod would be scraped twice", strings.Join(metricsServices, ", "))
	}
	for _, p := range r.pdbs {
		s, err := labels.ValidatedSelectorFromSet(p.Spec.Selector.MatchLabels)
		if err != nil || !s.Matches(labels.Set(pod.Labels)) {
			add("PodDisruptionBudget %s does not select the pods", p.Name)
		}
	}
	for _, h := range r.hpas {
		if h.Spec.ScaleTargetRef.Kind == "StatefulSet" {
			add("HPA %s scales a StatefulSet: a scale-down strands spool journals on the removed pods' volumes", h.Name)
		}
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
	problems = append(problems, dashboardRules(r)...)
	problems = append(problems, strimziRules(r)...)
	problems = append(problems, ingressRules(r)...)
	problems = append(problems, secretReadRules(r)...)
	return problems
}

// podSpecs are the pod templates of every workload and CronJob, by name.
func podSpecs(r *rendered) map[string]corev1.PodSpec {
	pods := map[string]corev1.PodSpec{}
	for _, d := range r.deployments {
		pods["Deployment "+d.Name] = d.Spec.Template.Spec
	}
	for _, st := range r.statefulsets {
		pods["StatefulSet "+st.Name] = st.Spec.Template.Spec
	}
	for _, c := range r.cronJobs {
		pods["CronJob "+c.Name] = c.Spec.JobTemplate.Spec.Template.Spec
	}
	return pods
}

// secretReadRules: a pod that runs as a non-root uid and mounts Secret
// volumes needs fsGroup. Without it the kubelet writes the files root-owned,
// and at mode 0400 the process cannot read its own secrets.
func secretReadRules(r *rendered) []string {
	var problems []string
	names := []string{}
	pods := podSpecs(r)
	for name := range pods {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		spec := pods[name]
		secrets := false
		for _, v := range spec.Volumes {
			secrets = secrets || v.Secret != nil
		}
		psc := spec.SecurityContext
		if !secrets || psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
			continue
		}
		if psc.FSGroup == nil {
			problems = append(problems, fmt.Sprintf("%s mounts Secret volumes as uid %d without fsGroup: the files stay root's and unreadable", name, *psc.RunAsUser))
		}
	}
	return problems
}

// configTopics reads the events and dead-letter topic names of the rendered
// config (the defaults when it names none).
func configTopics(r *rendered) (events, deadLetter string) {
	events, deadLetter = "scheduling.events.v1", "scheduling.dlq.v1"
	for _, text := range r.configs {
		var cfg struct {
			Topics struct {
				Events     string `json:"events"`
				DeadLetter string `json:"dead_letter"`
			} `json:"topics"`
		}
		if yaml.Unmarshal([]byte(text), &cfg) == nil {
			if cfg.Topics.Events != "" {
				events = cfg.Topics.Events
			}
			if cfg.Topics.DeadLetter != "" {
				deadLetter = cfg.Topics.DeadLetter
			}
		}
	}
	return events, deadLetter
}

// shutdownBudget is the ack timeout plus shutdown_timeout_ms (once, or twice
// with a spool) of the rendered config, in seconds.
func shutdownBudget(r *rendered, spool bool) int64 {
	ack, shutdown := int64(10000), int64(5000)
	for _, text := range r.configs {
		var cfg struct {
			Ack      *int64 `json:"ack_timeout_ms"`
			Shutdown *int64 `json:"shutdown_timeout_ms"`
		}
		if yaml.Unmarshal([]byte(text), &cfg) == nil {
			if cfg.Ack != nil {
				ack = *cfg.Ack
			}
			if cfg.Shutdown != nil {
				shutdown = *cfg.Shutdown
			}
		}
	}
	phases := int64(1)
	if spool {
		phases = 2
	}
	return (ack+999)/1000 + phases*((shutdown+999)/1000)
}

// strimziRules: KafkaTopics and KafkaUsers live in the Kafka cluster's
// namespace (set explicitly: Strimzi's operators watch only that one) with its
// cluster label; the dead-letter topic outlives the events topic; the user's
// ACLs let the service write both topics and read the events topic back.
func strimziRules(r *rendered) []string {
	var problems []string
	add := func(format string, args ...interface{}) { problems = append(problems, fmt.Sprintf(format, args...)) }
	placed := func(kind, name, namespace string, lbls map[string]string) {
		if namespace == "" {
			add("%s %s has no namespace: Strimzi watches only the Kafka cluster's namespace, set it explicitly", kind, name)
		}
		if lbls["strimzi.io/cluster"] == "" {
			add("%s %s needs a strimzi.io/cluster label", kind, name)
		}
	}
	events, deadLetter := configTopics(r)
	names := map[string]KafkaTopic{}
	for _, t := range r.topics {
		placed("KafkaTopic", t.Metadata.Name, t.Metadata.Namespace, t.Metadata.Labels)
		if t.Spec.Partitions < 1 || t.Spec.Replicas < 1 {
			add("KafkaTopic %s needs partitions and replicas", t.Metadata.Name)
		}
		name := t.Spec.TopicName
		if name == "" {
			name = t.Metadata.Name
		}
		names[name] = t
	}
	if len(r.topics) > 0 {
		ev, okE := names[events]
		dl, okD := names[deadLetter]
		if !okE || !okD {
			add("want KafkaTopics %s and %s (the config's topics)", events, deadLetter)
		} else if number(dl.Spec.Config["retention.ms"]) <= number(ev.Spec.Config["retention.ms"]) {
			add("the dead-letter topic must be kept longer than the events topic")
		}
	}
	for _, u := range r.users {
		placed("KafkaUser", u.Metadata.Name, u.Metadata.Namespace, u.Metadata.Labels)
		granted := map[string]bool{}
		for _, acl := range u.Spec.Authorization.ACLs {
			if acl.Resource.Type != "topic" || (acl.Resource.PatternType != "" && acl.Resource.PatternType != "literal") {
				continue
			}
			for _, op := range acl.Operations {
				granted[acl.Resource.Name+" "+op] = true
			}
		}
		for _, want := range []string{events + " Write", events + " Describe", events + " Read",
			deadLetter + " Write", deadLetter + " Describe"} {
			if !granted[want] {
				add("KafkaUser %s lacks %s (topic ACL)", u.Metadata.Name, want)
			}
		}
	}
	for _, u := range r.users {
		problems = append(problems, runbookGroupRules(u)...)
	}
	for _, t := range r.topics {
		for _, u := range r.users {
			if t.Metadata.Namespace != u.Metadata.Namespace || t.Metadata.Labels["strimzi.io/cluster"] != u.Metadata.Labels["strimzi.io/cluster"] {
				add("KafkaTopic %s and KafkaUser %s name different Kafka clusters or namespaces", t.Metadata.Name, u.Metadata.Name)
			}
		}
	}
	return problems
}

// backendProtocol is ingress-nginx's annotation for how it speaks to the Service.
const backendProtocol = "nginx.ingress.kubernetes.io/backend-protocol"

// readmeGroup finds the consumer groups the README's commands use.
var readmeGroup = regexp.MustCompile("--group ([A-Za-z0-9][A-Za-z0-9._-]+)")

// runbookGroupRules: every consumer group a README command names (`replay
// --group ...`) is one the KafkaUser may use, or the runbook is denied on a
// cluster with ACLs.
func runbookGroupRules(u KafkaUser) []string {
	var problems []string
	for _, m := range readmeGroup.FindAllStringSubmatch(readmeText, -1) {
		group, granted := m[1], false
		for _, acl := range u.Spec.Authorization.ACLs {
			if acl.Resource.Type != "group" {
				continue
			}
			if acl.Resource.PatternType == "prefix" {
				granted = granted || strings.HasPrefix(group, acl.Resource.Name)
			} else {
				granted = granted || group == acl.Resource.Name || acl.Resource.Name == "*"
			}
		}
		if !granted {
			problems = append(problems, fmt.Sprintf("KafkaUser %s may not use the consumer group %s the README's commands name (group ACL)", u.Metadata.Name, group))
		}
	}
	return problems
}

// ingressRules: the internet reaches /webhooks/ on the webhook Service only;
// ingress-nginx speaks HTTPS to the webhook port exactly when it serves TLS.
func ingressRules(r *rendered) []string {
	var problems []string
	tls := false
	for _, text := range r.configs {
		var cfg struct {
			TLSCertFile string `json:"tls_cert_file"`
		}
		yaml.Unmarshal([]byte(text), &cfg)
		tls = tls || cfg.TLSCertFile != ""
	}
	for _, in := range r.ingresses {
		if in.Spec.IngressClassName != nil && *in.Spec.IngressClassName == "nginx" {
			got := strings.ToUpper(in.Annotations[backendProtocol])
			if tls && got != "HTTPS" {
				problems = append(problems, fmt.Sprintf("Ingress %s: the webhook port serves TLS but %s is %q: plain HTTP to it gets an empty reply", in.Name, backendProtocol, got))
			}
			if !tls && got == "HTTPS" {
				problems = append(problems, fmt.Sprintf("Ingress %s: %s is HTTPS but the webhook port serves plain HTTP", in.Name, backendProtocol))
			}
		}
		for _, rule := range in.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				if !strings.HasPrefix(p.Path, "/webhooks/") {
					problems = append(problems, fmt.Sprintf("Ingress %s routes %q: only /webhooks/ may reach schedbridge from outside", in.Name, p.Path))
				}
				if b := p.Backend.Service; b == nil || b.Port.Name == "admin" || strings.HasSuffix(b.Name, "-admin") {
					problems = append(problems, fmt.Sprintf("Ingress %s must route to the webhook Service's http port, never the admin port", in.Name))
				}
			}
		}
	}
	return problems
}

// dashboardRules: a Grafana dashboard that parses, shows what operators look
// at first, and names only documented metrics.
func dashboardRules(r *rendered) []string {
	var problems []string
	if len(r.dashboards) != 1 {
		return []string{fmt.Sprintf("want one Grafana dashboard ConfigMap, got %d", len(r.dashboards))}
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(r.dashboards[0]), &dash); err != nil {
		return []string{"the dashboard is not JSON: " + err.Error()}
	}
	shown := map[string]bool{}
	for _, p := range dash.Panels {
		for _, t := range p.Targets {
			for _, name := range metricName.FindAllString(t.Expr, -1) {
				base := documentedBase(name)
				if base == "" {
					problems = append(problems, fmt.Sprintf("dashboard panel %q uses %s, which the README does not document", p.Title, name))
				}
				shown[base] = true
			}
		}
	}
	for _, want := range []string{"schedbridge_webhook_requests_total", "schedbridge_webhook_duration_seconds",
		"schedbridge_kafka_errors_total", "schedbridge_dead_letters_total", "schedbridge_duplicates_total",
		"schedbridge_spool_records", "schedbridge_dedup_peer_lag_seconds"} {
		if !shown[want] {
			problems = append(problems, "the dashboard has no panel on "+want)
		}
	}
	return problems
}

// metricName finds the schedbridge metric names in a PromQL expression.
var metricName = regexp.MustCompile(`schedbridge_[a-z0-9_]+`)

// readmeText is the project README, the one list of metric names.
var readmeText string

// documentedBase is the README's name for a metric (a histogram's series
// reduced to the histogram), or "" when the README does not document it.
func documentedBase(name string) string {
	base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
	for _, n := range []string{base, name} {
		if strings.Contains(readmeText, "`"+n+"`") {
			return n
		}
	}
	return ""
}

// readmeAnchors are the GitHub anchors of the README's headings.
func readmeAnchors() map[string]bool {
	anchors := map[string]bool{}
	drop := regexp.MustCompile("[^a-z0-9 _-]")
	for _, line := range strings.Split(readmeText, "\n") {
		if strings.HasPrefix(line, "#") {
			title := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
			anchors[strings.ReplaceAll(drop.ReplaceAllString(title, ""), " ", "-")] = true
		}
	}
	return anchors
}

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
				if documentedBase(name) == "" {
					add("alert %s uses %s, which the README does not document", rule.Alert, name)
				}
			}
			url := rule.Annotations["runbook_url"]
			if i := strings.LastIndex(url, "#"); i < 0 || !readmeAnchors()[url[i+1:]] {
				add("alert %s needs a runbook_url pointing at a README section (got %q)", rule.Alert, url)
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

// parse decodes a multi-document manifest (helm template's output).
func parse(manifest string) (*rendered, error) {
	r := &rendered{configMaps: map[string]bool{}}
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(manifest, -1) {
		body := regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(doc, "")
		if strings.TrimSpace(body) == "" {
			continue
		}
		if err := decode([]byte(doc), r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// kubeVersion is the Kubernetes version charts are rendered for (the oldest
// the chart supports).
const kubeVersion = "1.27.0"

// helmRun runs helm with args and returns its standard output, or an error
// carrying its standard error.
func helmRun(helm string, args ...string) (string, error) {
	var out, errOut bytes.Buffer
	cmd := exec.Command(helm, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		// helm lint reports what it found on standard output.
		return "", fmt.Errorf("helm %s: %v: %s %s", strings.Join(args, " "), err,
			strings.TrimSpace(errOut.String()), strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// monitoringAPI is Prometheus Operator's API: the chart renders its
// ServiceMonitor and PrometheusRule only where the cluster serves it.
const monitoringAPI = "monitoring.coreos.com/v1"

// render lints and renders the chart with one values file, for a cluster
// that serves Prometheus Operator's API.
func render(helm, chart, values string, set ...string) (string, error) {
	return renderFor(helm, chart, values, []string{monitoringAPI}, set...)
}

// renderFor lints and renders the chart with one values file, for a cluster
// serving apiVersions besides Kubernetes' own.
func renderFor(helm, chart, values string, apiVersions []string, set ...string) (string, error) {
	args := []string{"--kube-version", kubeVersion}
	if values != "" {
		args = append(args, "-f", values)
	}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	if _, err := helmRun(helm, append([]string{"lint", "--strict", chart}, args...)...); err != nil {
		return "", err
	}
	for _, v := range apiVersions {
		args = append(args, "--api-versions", v)
	}
	return helmRun(helm, append([]string{"template", "schedbridge", chart, "--namespace", "schedbridge"}, args...)...)
}

// findHelm: --helm, else the one scripts/bootstrap installs, else PATH.
func findHelm(flagValue, chart string) string {
	if flagValue != "" {
		return flagValue
	}
	local := filepath.Join(chart, "..", "..", "..", ".cache", "bin", "helm")
	if _, err := os.Stat(local); err == nil {
		return local
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	return "helm"
}

// defaultChart is the chart from the repository root or from deploy/validate.
func defaultChart() string {
	for _, c := range []string{"deploy/helm/schedbridge", "../helm/schedbridge"} {
		if _, err := os.Stat(filepath.Join(c, "Chart.yaml")); err == nil {
			return c
		}
	}
	return "deploy/helm/schedbridge"
}

// refusals: value combinations the chart must refuse at render time (each
// would otherwise render and the pod exit 78, or render something broken),
// with the reason it gives. Several --set are separated by ";".
var refusals = []struct {
	values, set, want string
}{
	{"spool.yaml", "autoscaling.enabled=true", "strand journals"},
	{"production.yaml", "sources[0].ack=spool", "set spool.enabled"},
	{"development.yaml", "reconcile.enabled=true", "no source has an apiKeyKey"},
	// values.schema.json: keys and values schedbridge would refuse.
	{"production.yaml", "config.ack_timeout=5000", "additional properties 'ack_timeout' not allowed"},
	{"production.yaml", "config.ack_timeout_ms=0", "/config/ack_timeout_ms"},
	{"production.yaml", "config.listen=0.0.0.0:1", "additional properties 'listen' not allowed"},
	{"production.yaml", "config.log_level=loud", "/config/log_level"},
	{"production.yaml", "kafka.properties.acks=1", "/kafka/properties/acks"},
	{"production.yaml", "kafka.properties.enable\\.idempotence=false", "/kafka/properties/enable.idempotence"},
	{"production.yaml", "sources[0].provider=calendy", "/sources/0/provider"},
	{"production.yaml", "sources[0].name=my source", "/sources/0/name"},
	{"production.yaml", "sources[0].secretKey=a/b", "/sources/0/secretKey"},
	{"production.yaml", "sources[0].ack=later", "/sources/0/ack"},
	{"production.yaml", "sources[0].secret=hunter2hunter2", "additional properties 'secret' not allowed"},
	{"spool.yaml", "spool.keySecretKey=", "/spool/keySecretKey"},
	{"development.yaml", "reconcile.window=6 hours", "/reconcile/window"},
	{"production.yaml", "networkPolicy.kafkaCIDRs={10.0.0.0}", "/networkPolicy/kafkaCIDRs/0"},
	{"development.yaml", "kafka.brokers=nohost", "/kafka/brokers"},
	// On the chart's default values: the list is replaced by one entry.
	{"", "kafka.brokers=k:9092;sources[0].ack=spool", "missing properties 'provider', 'secretKey'"},
	// The templates: what a schema cannot say.
	{"production.yaml", "sources[1].provider=calcom", "sources: calcom/default is listed twice"},
	{"production.yaml", "kafka.properties.sasl\\.password=hunter2", "kafka.properties.sasl.password holds a secret"},
	{"production.yaml", "kafka.properties.ssl\\.key\\.password=hunter2", "kafka.properties.ssl.key.password holds a secret"},
	{"production.yaml", "kafka.properties.ssl\\.keystore\\.password=hunter2", "holds a secret"},
	{"production.yaml", "kafka.properties.sasl\\.oauthbearer\\.client\\.secret=hunter2", "holds a secret"},
	{"production.yaml", "kafka.properties.ssl\\.key\\.pem=-----BEGIN", "kafka.properties.ssl.key.pem holds a secret"},
	{"production.yaml", "strimzi.enabled=false;kafka.brokers=b-1.kafka.example.net:9096", "not in networkPolicy.kafkaPorts"},
	{"production.yaml", "strimzi.enabled=false;kafka.brokers=b-1.kafka.example.net:9096;networkPolicy.kafkaPorts={9096}", "outside the cluster: list its addresses in networkPolicy.kafkaCIDRs"},
}

// refused renders the chart with an example values file ("": the chart's
// defaults) and the --set values separated by ";", and says why unless the
// chart refuses it with a message containing want.
func refused(helm, chart, example, sets, want string) error {
	values := ""
	if example != "" {
		values = filepath.Join(chart, "..", "examples", example)
	}
	_, err := render(helm, chart, values, strings.Split(sets, ";")...)
	if err == nil || !strings.Contains(err.Error(), want) {
		return fmt.Errorf("the chart must refuse it (%q), got %v", want, err)
	}
	return nil
}

// standInCertificate is a self-signed PEM certificate, for mounted CA files.
func standInCertificate() []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "deploy/validate stand-in CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// podEnv is the workload container's environment (name → value).
func podEnv(r *rendered) map[string]string {
	env := map[string]string{}
	var containers []corev1.Container
	for _, d := range r.deployments {
		containers = append(containers, d.Spec.Template.Spec.Containers...)
	}
	for _, st := range r.statefulsets {
		containers = append(containers, st.Spec.Template.Spec.Containers...)
	}
	for _, c := range containers {
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
	}
	return env
}

// reconcileRules: each reconcile CronJob runs one at a time, over a window
// longer than its interval (the next run covers a failed one), for a source
// whose API key the rendered config names, in pods no Service selects.
func reconcileRules(r *rendered) []string {
	var problems []string
	add := func(format string, args ...interface{}) { problems = append(problems, fmt.Sprintf(format, args...)) }
	keyed := map[string]bool{} // provider/name of the sources with an api_key_file
	for _, cfg := range r.configs {
		var parsed struct {
			Sources []struct {
				Provider   string `json:"provider"`
				Name       string `json:"name"`
				APIKeyFile string `json:"api_key_file"`
			} `json:"sources"`
		}
		yaml.Unmarshal([]byte(cfg), &parsed)
		for _, s := range parsed.Sources {
			name := s.Name
			if name == "" {
				name = "default"
			}
			if s.APIKeyFile != "" {
				keyed[s.Provider+"/"+name] = true
			}
		}
	}
	every := regexp.MustCompile(`^\*/([0-9]+) \* \* \* \*$`)
	for _, c := range r.cronJobs {
		if c.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
			add("CronJob %s: concurrencyPolicy must be Forbid (two runs of one window at once)", c.Name)
		}
		pod := c.Spec.JobTemplate.Spec.Template
		if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
			add("CronJob %s: enableServiceLinks must be false (SCHEDBRIDGE_KAFKA_* injection)", c.Name)
		}
		for _, svc := range r.services {
			if len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
				add("CronJob %s: Service %s selects its pods (they serve no webhooks)", c.Name, svc.Name)
			}
		}
		if len(pod.Spec.Containers) != 1 || len(pod.Spec.Containers[0].Args) == 0 || pod.Spec.Containers[0].Args[0] != "reconcile" {
			add("CronJob %s: want one container running `schedbridge reconcile`", c.Name)
			continue
		}
		args := map[string]string{}
		for _, a := range pod.Spec.Containers[0].Args[1:] {
			if k, v, ok := strings.Cut(a, "="); ok {
				args[k] = v
			}
		}
		if !keyed[args["--source"]] {
			add("CronJob %s: source %q has no api_key_file in config.yaml", c.Name, args["--source"])
		}
		window, err := time.ParseDuration(strings.Replace(args["--since"], "d", "h", 1))
		if strings.HasSuffix(args["--since"], "d") {
			window *= 24
		}
		if m := every.FindStringSubmatch(c.Spec.Schedule); m != nil && err == nil {
			interval := time.Duration(atoi(m[1])) * time.Minute
			if window <= interval {
				add("CronJob %s: the window --since=%s must be longer than the schedule's interval (%s), so the next run covers a failed one", c.Name, args["--since"], interval)
			}
		} else if err != nil {
			add("CronJob %s: --since=%q is not a duration", c.Name, args["--since"])
		}
	}
	return problems
}

func atoi(s string) int {
	n := 0
	fmt.Sscanf(s, "%d", &n)
	return n
}

// checkReconcileArgs: every flag a CronJob passes is one `schedbridge reconcile` knows.
func checkReconcileArgs(bin string, r *rendered) []string {
	var problems []string
	if len(r.cronJobs) == 0 {
		return nil
	}
	help, err := exec.Command(bin, "reconcile", "--help").CombinedOutput()
	if err != nil {
		return []string{"schedbridge reconcile --help: " + err.Error()}
	}
	for _, c := range r.cronJobs {
		for _, container := range c.Spec.JobTemplate.Spec.Template.Spec.Containers {
			for _, a := range container.Args[1:] {
				flagName, _, _ := strings.Cut(a, "=")
				if !strings.Contains(string(help), flagName+" ") {
					problems = append(problems, fmt.Sprintf("CronJob %s: schedbridge reconcile has no flag %s", c.Name, flagName))
				}
			}
		}
	}
	return problems
}

// checkConfig runs `schedbridge serve --check-config` on a rendered config
// and the pod's environment, with every mounted path replaced by a
// temporary file.
func checkConfig(bin, text string, env map[string]string) error {
	dir, err := os.MkdirTemp("", "schedbridge-validate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	mounted := regexp.MustCompile(`/var/(run/secrets|lib/schedbridge)/[A-Za-z0-9._/-]+`)
	local := func(path string) string {
		file := filepath.Join(dir, strings.TrimPrefix(path, "/var/"))
		if strings.HasSuffix(path, "/spool") {
			os.MkdirAll(file, 0o700)
		} else if _, err := os.Stat(file); err != nil {
			os.MkdirAll(filepath.Dir(file), 0o700)
			content := []byte("validate-0123456789abcdef0123456789abcdef\n")
			if strings.HasSuffix(path, ".crt") || strings.HasSuffix(path, ".pem") {
				content = standInCertificate()
			}
			os.WriteFile(file, content, 0o600)
		}
		return file
	}
	text = mounted.ReplaceAllStringFunc(text, local)
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(bin, "serve", "--config", config, "--check-config")
	// The caller's environment (sanitizer options, ...), minus schedbridge's
	// own settings, which would change what is checked.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SCHEDBRIDGE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for name, value := range env {
		cmd.Env = append(cmd.Env, name+"="+mounted.ReplaceAllStringFunc(value, local))
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func main() {
	helmFlag := flag.String("helm", "", "the helm binary (default: .cache/bin/helm, else PATH)")
	binary := flag.String("schedbridge", "", "also check each rendered config.yaml with this schedbridge binary")
	promtool := flag.String("promtool", "", "also check and unit-test the rendered alert rules with this promtool")
	alertsOnly := flag.Bool("alerts-only", false, "with --promtool: only the alert rules")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: go run ./deploy/validate [--helm PATH] [--schedbridge BIN] [CHART_DIR]")
		flag.PrintDefaults()
	}
	flag.Parse()
	chart := defaultChart()
	if flag.NArg() > 0 {
		chart = flag.Arg(0)
	}
	helm := findHelm(*helmFlag, chart)
	readme, err := os.ReadFile(filepath.Join(chart, "..", "..", "..", "README.md"))
	if err != nil {
		fmt.Printf("FAIL: cannot read the README of the repository holding %s: %v\n", chart, err)
		os.Exit(1)
	}
	readmeText = string(readme)
	examples, _ := filepath.Glob(filepath.Join(chart, "..", "examples", "*.yaml"))
	if *alertsOnly {
		examples, refusals = nil, nil
	}
	sort.Strings(examples)
	if len(examples) == 0 && !*alertsOnly {
		fmt.Printf("FAIL: no values files in %s\n", filepath.Join(chart, "..", "examples"))
		os.Exit(1)
	}
	checks, failed := 0, 0
	for _, values := range examples {
		checks++
		name := filepath.Base(values)
		manifest, err := render(helm, chart, values)
		var r *rendered
		if err == nil {
			r, err = parse(manifest)
		}
		if err != nil {
			fmt.Printf("FAIL %s: %v\n", name, err)
			failed++
			continue
		}
		problems := rules(r)
		if *binary != "" {
			problems = append(problems, checkReconcileArgs(*binary, r)...)
			for _, cfg := range r.configs {
				if err := checkConfig(*binary, cfg, podEnv(r)); err != nil {
					problems = append(problems, "schedbridge --check-config refuses the rendered config.yaml: "+err.Error())
				}
			}
		}
		if len(problems) > 0 {
			for _, p := range problems {
				fmt.Printf("FAIL %s: %s\n", name, p)
			}
			failed++
			continue
		}
		fmt.Printf("ok   %s: %d deployment, %d statefulset, %d service, %d hpa, %d topic, %d user, %d ingress, %d servicemonitor, %d rule, %d dashboard, %d cronjob\n",
			name, len(r.deployments), len(r.statefulsets), len(r.services), len(r.hpas), len(r.topics), len(r.users),
			len(r.ingresses), len(r.monitors), len(r.alertRules), len(r.dashboards), len(r.cronJobs))
	}
	for _, refusal := range refusals {
		checks++
		if err := refused(helm, chart, refusal.values, refusal.set, refusal.want); err != nil {
			fmt.Printf("FAIL %s --set %s: %v\n", refusal.values, refusal.set, err)
			failed++
			continue
		}
		fmt.Printf("ok   %s --set %s: refused\n", refusal.values, refusal.set)
	}
	if *promtool != "" {
		checks++
		if err := checkAlerts(helm, *promtool, chart, filepath.Join(chart, "..", "..", "validate", "testdata")); err != nil {
			fmt.Printf("FAIL alerts: %v\n", err)
			failed++
		} else {
			fmt.Println("ok   alerts: promtool check rules and test rules (each alert fired and kept silent)")
		}
	}
	fmt.Printf("%d passed, %d failed\n", checks-failed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
