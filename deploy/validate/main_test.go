package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const chart = "../helm/schedbridge"

// renderExample renders one example values file into its objects; the tests
// then break one thing each and expect the check that guards it to say so.
func renderExample(t *testing.T, example string) *rendered {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readmeText = string(readme)
	helm := os.Getenv("SCHEDBRIDGE_HELM")
	if helm == "" {
		helm = findHelm("", chart)
	}
	manifest, err := render(helm, chart, filepath.Join(chart, "..", "examples", example))
	if err != nil {
		t.Fatalf("render %s: %v", example, err)
	}
	r, err := parse(manifest)
	if err != nil {
		t.Fatalf("parse %s: %v", example, err)
	}
	if problems := rules(r); len(problems) > 0 {
		t.Fatalf("%s is not clean before the fault: %v", example, problems)
	}
	return r
}

func expectProblem(t *testing.T, r *rendered, want string) {
	t.Helper()
	problems := rules(r)
	for _, p := range problems {
		if strings.Contains(p, want) {
			return
		}
	}
	t.Errorf("want a problem containing %q, got %q", want, problems)
}

func TestStrimziObjectsNeedTheClusterNamespace(t *testing.T) {
	r := renderExample(t, "production.yaml")
	r.topics[0].Metadata.Namespace = ""
	expectProblem(t, r, "has no namespace: Strimzi watches only the Kafka cluster's namespace")
	r = renderExample(t, "production.yaml")
	r.users[0].Metadata.Namespace = ""
	expectProblem(t, r, "KafkaUser schedbridge has no namespace")
}

func TestStrimziObjectsNeedTheClusterLabel(t *testing.T) {
	r := renderExample(t, "production.yaml")
	delete(r.users[0].Metadata.Labels, "strimzi.io/cluster")
	expectProblem(t, r, "KafkaUser schedbridge needs a strimzi.io/cluster label")
	r = renderExample(t, "production.yaml")
	r.topics[1].Metadata.Labels["strimzi.io/cluster"] = "other-cluster"
	expectProblem(t, r, "name different Kafka clusters or namespaces")
}

func TestTheKafkaUserMayWriteBothTopics(t *testing.T) {
	r := renderExample(t, "production.yaml")
	acls := r.users[0].Spec.Authorization.ACLs
	for i := range acls {
		if acls[i].Resource.Name == "scheduling.dlq.v1" {
			acls[i].Operations = []string{"Describe"}
		}
	}
	expectProblem(t, r, "lacks scheduling.dlq.v1 Write")
}

func TestDeadLettersOutliveEvents(t *testing.T) {
	r := renderExample(t, "production.yaml")
	for i := range r.topics {
		r.topics[i].Spec.Config["retention.ms"] = float64(604800000)
	}
	expectProblem(t, r, "dead-letter topic must be kept longer")
}

func TestNoAutoscalerOnASpoolStatefulSet(t *testing.T) {
	r := renderExample(t, "spool.yaml")
	production := renderExample(t, "production.yaml")
	hpa := production.hpas[0]
	hpa.Spec.ScaleTargetRef.Kind = "StatefulSet"
	r.hpas = append(r.hpas, hpa)
	expectProblem(t, r, "scales a StatefulSet: a scale-down strands spool journals")
}

func TestNoPodIsScrapedTwice(t *testing.T) {
	r := renderExample(t, "spool.yaml")
	for i := range r.services {
		if r.services[i].Spec.ClusterIP == "None" {
			r.services[i].Spec.Ports = append(r.services[i].Spec.Ports, corev1.ServicePort{
				Name: "metrics", Port: 9090, TargetPort: intstr.FromInt32(9090)})
		}
	}
	expectProblem(t, r, "all select the pods on the metrics port")
}

func TestTheMonitorScrapesTheAdminPort(t *testing.T) {
	r := renderExample(t, "production.yaml")
	r.monitors[0].Spec.Endpoints[0].Port = "http"
	expectProblem(t, r, "want one ServiceMonitor scraping /metrics on the admin port")
}

func TestTheSpoolNeedsAClaimAtItsDirectory(t *testing.T) {
	r := renderExample(t, "spool.yaml")
	r.statefulsets[0].Spec.VolumeClaimTemplates[0].Name = "elsewhere"
	expectProblem(t, r, "no volumeClaimTemplate is mounted at the spool directory")
}

func TestASpoolOnADeploymentIsRefused(t *testing.T) {
	r := renderExample(t, "spool.yaml")
	production := renderExample(t, "production.yaml")
	r.statefulsets, r.deployments = nil, production.deployments
	expectProblem(t, r, "its journal would die with the pod")
}

func TestTheGracePeriodCoversTheSpoolDrain(t *testing.T) {
	r := renderExample(t, "spool.yaml")
	grace := int64(30)
	r.statefulsets[0].Spec.Template.Spec.TerminationGracePeriodSeconds = &grace
	expectProblem(t, r, "terminationGracePeriodSeconds must cover preStop + ack timeout + shutdown (55 s)")
}

func TestProbesUseTheAdminPort(t *testing.T) {
	r := renderExample(t, "production.yaml")
	r.deployments[0].Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Port = intstr.FromString("http")
	expectProblem(t, r, "readiness probe must GET /readyz on the admin port")
}

func TestTheIngressRoutesOnlyWebhooks(t *testing.T) {
	r := renderExample(t, "production.yaml")
	r.ingresses[0].Spec.Rules[0].HTTP.Paths[0].Path = "/"
	expectProblem(t, r, `routes "/": only /webhooks/`)
	r = renderExample(t, "production.yaml")
	r.ingresses[0].Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Name = "admin"
	expectProblem(t, r, "never the admin port")
}

func TestAlertsNameDocumentedMetricsAndRunbooks(t *testing.T) {
	r := renderExample(t, "production.yaml")
	rules := r.alertRules[0].Spec.Groups[0].Rules
	rules[0].Expr = intstr.FromString("schedbridge_not_a_metric > 0")
	expectProblem(t, r, "uses schedbridge_not_a_metric, which the README does not document")
	r = renderExample(t, "production.yaml")
	r.alertRules[0].Spec.Groups[0].Rules[1].Annotations["runbook_url"] = "https://example.com/README.md#no-such-section"
	expectProblem(t, r, "needs a runbook_url pointing at a README section")
}

func TestTheDashboardNamesDocumentedMetrics(t *testing.T) {
	r := renderExample(t, "production.yaml")
	r.dashboards[0] = strings.ReplaceAll(r.dashboards[0], "schedbridge_spool_records", "schedbridge_spool_recs")
	expectProblem(t, r, "uses schedbridge_spool_recs, which the README does not document")
	expectProblem(t, r, "the dashboard has no panel on schedbridge_spool_records")
	r.dashboards[0] = "{"
	expectProblem(t, r, "the dashboard is not JSON")
}

func TestEnableServiceLinksIsOff(t *testing.T) {
	r := renderExample(t, "development.yaml")
	on := true
	r.deployments[0].Spec.Template.Spec.EnableServiceLinks = &on
	expectProblem(t, r, "enableServiceLinks must be false")
}

func TestTheRenderedConfigIsCheckedByTheBinary(t *testing.T) {
	// A config schedbridge refuses fails the check (no binary: /bin/false
	// stands in for a refusal; the real binary runs in deploy_chart).
	if err := checkConfig("/bin/false", "listen: 0.0.0.0:8080\n", nil); err == nil {
		t.Fatal("a refused config passed")
	}
	if err := checkConfig("/bin/true", "spool_key_file: /var/run/secrets/schedbridge/spool-key\n", nil); err != nil {
		t.Fatalf("an accepted config failed: %v", err)
	}
	// The pod's environment reaches the binary, its mounted paths mapped too.
	env := map[string]string{"SCHEDBRIDGE_KAFKA_SASL_PASSWORD_FILE": "/var/run/secrets/kafka-user/password"}
	if err := checkConfig("/usr/bin/test", "", env); err == nil {
		t.Fatal("test without arguments should fail")
	}
	script := filepath.Join(t.TempDir(), "check")
	os.WriteFile(script, []byte("#!/bin/sh\ntest -f \"$SCHEDBRIDGE_KAFKA_SASL_PASSWORD_FILE\"\n"), 0o700)
	if err := checkConfig(script, "", env); err != nil {
		t.Fatalf("the password file did not reach the binary: %v", err)
	}
	if err := checkConfig(script, "", nil); err == nil {
		t.Fatal("without the pod's environment the check must fail")
	}
}

func TestTheReconcileCronJob(t *testing.T) {
	r := renderExample(t, "production.yaml")
	if len(r.cronJobs) != 3 {
		t.Fatalf("want one reconcile CronJob per source with an API key, got %d", len(r.cronJobs))
	}
	r.cronJobs[0].Spec.ConcurrencyPolicy = "Allow"
	expectProblem(t, r, "concurrencyPolicy must be Forbid")

	r = renderExample(t, "production.yaml")
	r.cronJobs[1].Spec.Schedule = "*/30 * * * *"
	args := r.cronJobs[1].Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args
	for i := range args {
		if strings.HasPrefix(args[i], "--since=") {
			args[i] = "--since=20m"
		}
	}
	expectProblem(t, r, "must be longer than the schedule's interval")

	r = renderExample(t, "production.yaml")
	args = r.cronJobs[2].Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args
	for i := range args {
		if strings.HasPrefix(args[i], "--source=") {
			args[i] = "--source=orufy/default"
		}
	}
	expectProblem(t, r, `source "orufy/default" has no api_key_file`)

	r = renderExample(t, "production.yaml")
	r.cronJobs[0].Spec.JobTemplate.Spec.Template.Labels["app.kubernetes.io/component"] = "ingress"
	expectProblem(t, r, "selects its pods")
}

func TestReconcileFlagsAreCheckedByTheBinary(t *testing.T) {
	bin := os.Getenv("SCHEDBRIDGE_BINARY")
	if bin == "" {
		t.Skip("SCHEDBRIDGE_BINARY not set (ctest sets it)")
	}
	r := renderExample(t, "production.yaml")
	if p := checkReconcileArgs(bin, r); len(p) > 0 {
		t.Fatalf("clean render refused: %v", p)
	}
	c := &r.cronJobs[0].Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	c.Args = append(c.Args, "--window=6h")
	if p := checkReconcileArgs(bin, r); len(p) != 1 || !strings.Contains(p[0], "no flag --window") {
		t.Fatalf("want the unknown flag refused, got %v", p)
	}
}
