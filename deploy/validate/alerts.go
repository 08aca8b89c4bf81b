package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// alertsExample is the values file whose rendering carries every alert (the
// spool alerts only render with a spool).
const alertsExample = "spool.yaml"

// ruleGroups extracts the PrometheusRule's rule groups from a rendered
// manifest as a Prometheus rule file (`groups:`), each alert's runbook_url
// dropped (checked against the README by alertRules instead), so that
// promtool tests exactly the rules the chart ships.
func ruleGroups(manifest string) ([]byte, error) {
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(manifest, -1) {
		var obj struct {
			Kind string `json:"kind"`
			Spec struct {
				Groups []map[string]interface{} `json:"groups"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil || obj.Kind != "PrometheusRule" {
			continue
		}
		for _, g := range obj.Spec.Groups {
			rules, _ := g["rules"].([]interface{})
			for _, r := range rules {
				if rule, ok := r.(map[string]interface{}); ok {
					if ann, ok := rule["annotations"].(map[string]interface{}); ok {
						delete(ann, "runbook_url")
					}
				}
			}
		}
		return yaml.Marshal(map[string]interface{}{"groups": obj.Spec.Groups})
	}
	return nil, fmt.Errorf("no PrometheusRule in the rendered manifest")
}

// alertNames are the alerts of a rule file.
func alertNames(rules []byte) []string {
	var file struct {
		Groups []struct {
			Rules []struct {
				Alert string `json:"alert"`
			} `json:"rules"`
		} `json:"groups"`
	}
	yaml.Unmarshal(rules, &file)
	var names []string
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				names = append(names, r.Alert)
			}
		}
	}
	return names
}

// untestedAlerts lists, for each alert, what the promtool test file lacks: a
// test case where it fires and one where it stays silent.
func untestedAlerts(alerts []string, testFile []byte) []string {
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string        `json:"alertname"`
				ExpAlerts []interface{} `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(testFile, &tests); err != nil {
		return []string{"the promtool test file is not YAML: " + err.Error()}
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, t := range tests.Tests {
		for _, a := range t.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	var problems []string
	sort.Strings(alerts)
	for _, a := range alerts {
		if !fires[a] {
			problems = append(problems, "alert "+a+" has no promtool test that fires it")
		}
		if !silent[a] {
			problems = append(problems, "alert "+a+" has no promtool test that keeps it silent")
		}
	}
	return problems
}

// promtoolRun runs promtool in dir and returns an error carrying its output.
func promtoolRun(promtool, dir string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.Command(promtool, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// checkAlerts renders the chart's alerts, then runs `promtool check rules`
// and `promtool test rules` with testdata/alerts.test.yaml on them, and
// checks that every alert is tested firing and silent.
func checkAlerts(helm, promtool, chart, testdata string) error {
	manifest, err := render(helm, chart, filepath.Join(chart, "..", "examples", alertsExample))
	if err != nil {
		return err
	}
	rules, err := ruleGroups(manifest)
	if err != nil {
		return err
	}
	tests, err := os.ReadFile(filepath.Join(testdata, "alerts.test.yaml"))
	if err != nil {
		return err
	}
	if problems := untestedAlerts(alertNames(rules), tests); len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	dir, err := os.MkdirTemp("", "schedbridge-alerts-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts.test.yaml"), tests, 0o600); err != nil {
		return err
	}
	if err := promtoolRun(promtool, dir, "check", "rules", "rules.yaml"); err != nil {
		return err
	}
	return promtoolRun(promtool, dir, "test", "rules", "alerts.test.yaml")
}
