package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// renderSet renders an example with --set values, for a cluster serving
// apiVersions, and parses it.
func renderSet(t *testing.T, example string, apiVersions []string, set ...string) *rendered {
	t.Helper()
	renderExample(t, example) // loads the README, checks the example clean
	helm := os.Getenv("SCHEDBRIDGE_HELM")
	if helm == "" {
		helm = findHelm("", chart)
	}
	manifest, err := renderFor(helm, chart, filepath.Join(chart, "..", "examples", example), apiVersions, set...)
	if err != nil {
		t.Fatalf("render %s %v: %v", example, set, err)
	}
	r, err := parse(manifest)
	if err != nil {
		t.Fatalf("parse %s: %v", example, err)
	}
	return r
}

func TestPodsThatReadSecretsHaveAnFSGroup(t *testing.T) {
	r := renderExample(t, "production.yaml")
	for _, c := range r.cronJobs {
		if sc := c.Spec.JobTemplate.Spec.Template.Spec.SecurityContext; sc == nil || sc.FSGroup == nil || *sc.FSGroup != 10001 {
			t.Fatalf("CronJob %s: want fsGroup 10001, got %+v", c.Name, sc)
		}
	}
	r.cronJobs[0].Spec.JobTemplate.Spec.Template.Spec.SecurityContext.FSGroup = nil
	expectProblem(t, r, "mounts Secret volumes as uid 10001 without fsGroup")
	r = renderExample(t, "spool.yaml")
	r.statefulsets[0].Spec.Template.Spec.SecurityContext.FSGroup = nil
	expectProblem(t, r, "StatefulSet schedbridge mounts Secret volumes")
}

func TestTheIngressSpeaksHTTPSToATLSWebhookPort(t *testing.T) {
	r := renderSet(t, "production.yaml", []string{monitoringAPI}, "tls.enabled=true", "tls.secretName=hooks-tls")
	if got := r.ingresses[0].Annotations[backendProtocol]; got != "HTTPS" {
		t.Fatalf("want %s: HTTPS with tls.enabled, got %q", backendProtocol, got)
	}
	if p := rules(r); len(p) > 0 {
		t.Fatalf("clean render refused: %v", p)
	}
	delete(r.ingresses[0].Annotations, backendProtocol)
	expectProblem(t, r, "the webhook port serves TLS but")
	// Without TLS on the port, no annotation; an operator's own value wins.
	r = renderExample(t, "production.yaml")
	if got, ok := r.ingresses[0].Annotations[backendProtocol]; ok {
		t.Fatalf("no TLS on the webhook port, yet %s: %q", backendProtocol, got)
	}
	r.ingresses[0].Annotations[backendProtocol] = "HTTPS"
	expectProblem(t, r, "is HTTPS but the webhook port serves plain HTTP")
	r = renderSet(t, "production.yaml", []string{monitoringAPI}, "tls.enabled=true", "tls.secretName=hooks-tls",
		`ingress.annotations.nginx\.ingress\.kubernetes\.io/backend-protocol=GRPCS`)
	if got := r.ingresses[0].Annotations[backendProtocol]; got != "GRPCS" {
		t.Fatalf("ingress.annotations must override the chart's %s, got %q", backendProtocol, got)
	}
}

func TestTheRunbookUsesGroupsTheKafkaUserMayUse(t *testing.T) {
	r := renderExample(t, "production.yaml")
	readme := readmeText
	defer func() { readmeText = readme }()
	if !readmeGroup.MatchString(readmeText) {
		t.Fatal("the README names no consumer group: nothing is checked")
	}
	readmeText += "\nschedbridge replay --group dlq-2026-11-23\n"
	expectProblem(t, r, "may not use the consumer group dlq-2026-11-23")
	readmeText = readme
	r = renderSet(t, "production.yaml", []string{monitoringAPI}, "strimzi.user.groupPrefixes={replay-}")
	expectProblem(t, r, "may not use the consumer group schedbridge-replay-")
}

func TestMonitoringObjectsOnlyWhereTheirAPIIsServed(t *testing.T) {
	r := renderSet(t, "development.yaml", nil)
	if len(r.monitors) != 0 || len(r.alertRules) != 0 {
		t.Fatalf("no monitoring.coreos.com/v1: want no ServiceMonitor and PrometheusRule, got %d and %d", len(r.monitors), len(r.alertRules))
	}
	r = renderSet(t, "development.yaml", nil, "serviceMonitor.force=true", "prometheusRule.force=true")
	if len(r.monitors) != 1 || len(r.alertRules) != 1 {
		t.Fatalf("forced: want a ServiceMonitor and a PrometheusRule, got %d and %d", len(r.monitors), len(r.alertRules))
	}
	r = renderSet(t, "production.yaml", []string{monitoringAPI}, "serviceMonitor.labels.release=kube-prometheus-stack",
		"prometheusRule.labels.release=kube-prometheus-stack")
	if r.monitors[0].Labels["release"] != "kube-prometheus-stack" || r.alertRules[0].Labels["release"] != "kube-prometheus-stack" {
		t.Fatal("the labels values must reach the ServiceMonitor and the PrometheusRule")
	}
}

func TestEgressToBrokersOutsideTheCluster(t *testing.T) {
	r := renderSet(t, "production.yaml", []string{monitoringAPI}, "strimzi.enabled=false",
		`kafka.brokers=b-1.kafka.example.net:9096\,b-2.kafka.example.net:9096`, "networkPolicy.kafkaPorts={9096}",
		"networkPolicy.kafkaCIDRs={10.20.0.0/16,192.0.2.0/24}")
	if len(r.netpols) != 1 {
		t.Fatalf("want one NetworkPolicy, got %d", len(r.netpols))
	}
	kafka := r.netpols[0].Spec.Egress[0]
	var cidrs []string
	for _, peer := range kafka.To {
		if peer.IPBlock != nil {
			cidrs = append(cidrs, peer.IPBlock.CIDR)
		}
	}
	if strings.Join(cidrs, ",") != "10.20.0.0/16,192.0.2.0/24" {
		t.Fatalf("want egress to the CIDRs, got %v", cidrs)
	}
	if len(kafka.Ports) != 1 || kafka.Ports[0].Port.IntValue() != 9096 {
		t.Fatalf("want egress on 9096, got %v", kafka.Ports)
	}
}

func TestEveryAlertIsTestedFiringAndSilent(t *testing.T) {
	tests, err := os.ReadFile("testdata/alerts.test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p := untestedAlerts([]string{"SchedbridgeKafkaNotReady"}, tests); len(p) > 0 {
		t.Fatalf("want the test file to cover the alert, got %v", p)
	}
	p := untestedAlerts([]string{"SchedbridgeNew"}, tests)
	if len(p) != 2 || !strings.Contains(p[0], "no promtool test that fires it") || !strings.Contains(p[1], "keeps it silent") {
		t.Fatalf("want an untested alert refused, got %v", p)
	}
	silentOnly := []byte("tests:\n  - alert_rule_test:\n      - alertname: A\n        exp_alerts: []\n")
	if p := untestedAlerts([]string{"A"}, silentOnly); len(p) != 1 || !strings.Contains(p[0], "fires it") {
		t.Fatalf("want an alert never fired refused, got %v", p)
	}
}

func TestRuleGroupsAreTheShippedRules(t *testing.T) {
	helm := findHelm("", chart)
	manifest, err := render(helm, chart, filepath.Join(chart, "..", "examples", alertsExample))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := ruleGroups(manifest)
	if err != nil {
		t.Fatal(err)
	}
	names := alertNames(rules)
	if len(names) != 11 || names[0] != "SchedbridgeKafkaNotReady" {
		t.Fatalf("want the chart's 11 alerts (spool ones included), got %v", names)
	}
	if strings.Contains(string(rules), "runbook_url") || !strings.Contains(string(rules), `namespace="schedbridge"`) {
		t.Fatalf("want the rendered expressions without runbook_url:\n%s", rules)
	}
	if _, err := ruleGroups("apiVersion: v1\nkind: ConfigMap\n"); err == nil {
		t.Fatal("a manifest without a PrometheusRule must be an error")
	}
}

// chartSetKeys are the config file keys the chart sets itself from other
// values; config: refuses them.
var chartSetKeys = map[string]bool{
	"listen": true, "admin_listen": true, "public_url": true, "topics.events": true, "topics.dead_letter": true,
	"kafka.brokers": true, "spool_dir": true, "spool_key_file": true, "spool_max_bytes": true,
	"tls_cert_file": true, "tls_key_file": true, "tls_min_version": true,
}

type schemaNode struct {
	Type                 interface{}            `json:"type"`
	Minimum              *float64               `json:"minimum"`
	Maximum              *float64               `json:"maximum"`
	Enum                 []interface{}          `json:"enum"`
	Properties           map[string]*schemaNode `json:"properties"`
	AdditionalProperties interface{}            `json:"additionalProperties"`
}

func loadSchema(t *testing.T) *schemaNode {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chart, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s schemaNode
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// TestTheConfigSchemaMatchesTheBinary: config: accepts exactly the file keys
// `schedbridge settings` lists (less those the chart sets), with the same
// types, ranges and choices.
func TestTheConfigSchemaMatchesTheBinary(t *testing.T) {
	bin := os.Getenv("SCHEDBRIDGE_BINARY")
	if bin == "" {
		t.Skip("SCHEDBRIDGE_BINARY not set (ctest sets it)")
	}
	settings, err := exec.Command(bin, "settings").Output()
	if err != nil {
		t.Fatal(err)
	}
	out := string(settings)
	config := loadSchema(t).Properties["config"]
	if config.AdditionalProperties != false {
		t.Fatal("config: must refuse keys the binary does not know (additionalProperties: false)")
	}
	key := regexp.MustCompile("/ `([a-z_.]+)`$")
	whole := regexp.MustCompile(`a whole number from (\d+) to (\d+)`)
	choice := regexp.MustCompile(`one of (.*)$`)
	seen := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		cols := strings.Split(line, "|")
		if len(cols) < 6 {
			continue
		}
		m := key.FindStringSubmatch(strings.TrimSpace(cols[2]))
		if m == nil || chartSetKeys[m[1]] {
			continue
		}
		name, meaning := m[1], strings.TrimSpace(cols[4])
		seen[name] = true
		p := config.Properties[name]
		if p == nil {
			t.Errorf("config.%s: the binary accepts it, the schema does not", name)
			continue
		}
		switch {
		case whole.MatchString(meaning):
			r := whole.FindStringSubmatch(meaning)
			lo, _ := strconv.ParseFloat(r[1], 64)
			hi, _ := strconv.ParseFloat(r[2], 64)
			if p.Type != "integer" || p.Minimum == nil || *p.Minimum != lo || p.Maximum == nil || *p.Maximum != hi {
				t.Errorf("config.%s: the binary takes a whole number from %s to %s, the schema %v [%s, %s]", name, r[1], r[2], p.Type, bound(p.Minimum), bound(p.Maximum))
			}
		case strings.HasSuffix(meaning, "true or false"):
			if p.Type != "boolean" {
				t.Errorf("config.%s: the binary takes true or false, the schema %v", name, p.Type)
			}
		case choice.MatchString(meaning):
			var want []string
			for _, v := range regexp.MustCompile(`,| or `).Split(choice.FindStringSubmatch(meaning)[1], -1) {
				if v = strings.TrimSpace(v); v != "" {
					want = append(want, v)
				}
			}
			var got []string
			for _, v := range p.Enum {
				if v != "warning" { // log_level's alias, accepted by the binary too
					got = append(got, v.(string))
				}
			}
			sort.Strings(want)
			sort.Strings(got)
			if strings.Join(want, ",") != strings.Join(got, ",") {
				t.Errorf("config.%s: the binary takes %v, the schema %v", name, want, got)
			}
		}
	}
	if len(seen) < 20 {
		t.Fatalf("read only %d settings from `schedbridge settings`: its format changed?", len(seen))
	}
	for name := range config.Properties {
		if !seen[name] {
			t.Errorf("config.%s: the schema accepts it, the binary does not (or the chart sets it)", name)
		}
	}
}

// TestEveryValueIsInValuesYaml: each value the schema declares appears in
// values.yaml, where it is documented (config's keys are the binary's).
func TestEveryValueIsInValuesYaml(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chart, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]interface{}
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, s *schemaNode, v map[string]interface{})
	walk = func(path string, s *schemaNode, v map[string]interface{}) {
		for name, p := range s.Properties {
			full := strings.TrimPrefix(path+"."+name, ".")
			if full == "global" || full == "config" || full == "kafka.properties" {
				continue
			}
			child, ok := v[name]
			if !ok {
				t.Errorf("%s: in values.schema.json, not in values.yaml", full)
				continue
			}
			if m, ok := child.(map[string]interface{}); ok && len(p.Properties) > 0 {
				walk(full, p, m)
			}
		}
	}
	walk("", loadSchema(t), values)
}

// bound prints a schema's minimum or maximum, or "none".
func bound(v *float64) string {
	if v == nil {
		return "none"
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}

// TestTheInstallSnippetCreatesEveryKey: the README's install command creates
// every key of secrets.name that the production example mounts.
func TestTheInstallSnippetCreatesEveryKey(t *testing.T) {
	r := renderExample(t, "production.yaml")
	start := strings.Index(readmeText, "### 2. Install the chart")
	end := strings.Index(readmeText[start:], "helm upgrade --install")
	if start < 0 || end < 0 {
		t.Fatal("the README's install snippet is gone")
	}
	snippet := readmeText[start : start+end]
	mounted := regexp.MustCompile(`/var/run/secrets/schedbridge/([A-Za-z0-9._-]+)`)
	keys := map[string]bool{}
	for _, cfg := range r.configs {
		for _, m := range mounted.FindAllStringSubmatch(cfg, -1) {
			keys[m[1]] = true
		}
	}
	if len(keys) != 6 {
		t.Fatalf("want production.yaml's 3 secrets and 3 API keys, got %v", keys)
	}
	for key := range keys {
		if !strings.Contains(snippet, "--from-file="+key+"=") {
			t.Errorf("the README's install snippet does not create the key %s that production.yaml mounts", key)
		}
	}
}
