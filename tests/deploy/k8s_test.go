package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/atoll-gcs/atoll/topology"
)

// k8sObject is the part of a manifest these checks read.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		ClusterIP                string    `yaml:"clusterIP"`
		PublishNotReadyAddresses bool      `yaml:"publishNotReadyAddresses"`
		Selector                 yaml.Node `yaml:"selector"`
		ServiceName              string    `yaml:"serviceName"`
		Replicas                 int       `yaml:"replicas"`
		MaxUnavailable           int       `yaml:"maxUnavailable"`
		Template                 struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				Containers []struct {
					Args []string `yaml:"args"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// TestK8sManifests checks deploy/k8s/site.yaml offline (no cluster and no
// schema download is possible here; this is not a schema validation):
// every document has an apiVersion, kind and name, of the API versions
// the kinds have today; the StatefulSet's serviceName is the
// headless Service (publishing not-ready pods, so peers resolve before the
// ring forms); the Service, the per-gateway Services and the
// PodDisruptionBudget select the StatefulSet's pods; the PDB lets at most
// one agent go; the topology template, with the peers filled in as the
// init container does, is a valid topology file whose nodes are the
// StatefulSet's pods, and the agent's flags exist.
func TestK8sManifests(t *testing.T) {
	b, err := os.ReadFile("../../deploy/k8s/site.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	byKind := map[string][]k8sObject{}
	for {
		var o k8sObject
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("site.yaml: %v", err)
		}
		if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
			t.Fatalf("a document without apiVersion, kind or name: %+v", o)
		}
		byKind[o.Kind] = append(byKind[o.Kind], o)
	}
	want := map[string]string{"ConfigMap": "v1", "Service": "v1", "StatefulSet": "apps/v1", "PodDisruptionBudget": "policy/v1"}
	for kind, api := range want {
		if len(byKind[kind]) == 0 {
			t.Fatalf("site.yaml has no %s", kind)
		}
		for _, o := range byKind[kind] {
			if o.APIVersion != api {
				t.Errorf("%s %s: apiVersion %s, want %s", kind, o.Metadata.Name, o.APIVersion, api)
			}
		}
	}
	sts := byKind["StatefulSet"][0]
	podLabels := sts.Spec.Template.Metadata.Labels
	selects := func(sel yaml.Node) bool {
		var m map[string]any
		if sel.Decode(&m) != nil || len(m) == 0 {
			return false
		}
		if ml, ok := m["matchLabels"].(map[string]any); ok {
			m = ml
		}
		for k, v := range m {
			if k == "statefulset.kubernetes.io/pod-name" {
				name, _ := v.(string)
				if !strings.HasPrefix(name, sts.Metadata.Name+"-") {
					return false
				}
				continue
			}
			if podLabels[k] != v {
				return false
			}
		}
		return true
	}
	if !selects(sts.Spec.Selector) {
		t.Errorf("the StatefulSet's selector does not match its pods' labels %v", podLabels)
	}
	var headless bool
	for _, s := range byKind["Service"] {
		if !selects(s.Spec.Selector) {
			t.Errorf("Service %s selects none of the StatefulSet's pods", s.Metadata.Name)
		}
		if s.Metadata.Name == sts.Spec.ServiceName {
			headless = s.Spec.ClusterIP == "None" && s.Spec.PublishNotReadyAddresses
		}
	}
	if !headless {
		t.Errorf("the StatefulSet's serviceName %q is not a headless Service publishing not-ready addresses", sts.Spec.ServiceName)
	}
	pdb := byKind["PodDisruptionBudget"][0]
	if !selects(pdb.Spec.Selector) || pdb.Spec.MaxUnavailable != 1 {
		t.Errorf("the PodDisruptionBudget must select the agents and allow one down: %+v", pdb.Spec)
	}

	cm := byKind["ConfigMap"][0]
	tmpl, ok := cm.Data["atoll.yaml.in"]
	if !ok || !strings.Contains(tmpl, "@PEERS@") || !strings.Contains(cm.Data["resolve.sh"], "@PEERS@") {
		t.Fatal("the ConfigMap lacks the topology template or the script that fills in @PEERS@")
	}
	path := filepath.Join(t.TempDir(), "atoll.yaml")
	topo := strings.Replace(tmpl, "@PEERS@", `"10.0.0.1", "10.0.0.2", "10.0.0.3"`, 1)
	if err := os.WriteFile(path, []byte(topo), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := topology.Load(path)
	if err != nil {
		t.Fatalf("the topology template with peers filled in: %v", err)
	}
	var nodes []string
	for _, s := range f.Sites {
		for _, n := range s.Nodes {
			nodes = append(nodes, n.ID)
		}
	}
	if len(nodes) != sts.Spec.Replicas {
		t.Errorf("the topology has %d nodes %v, the StatefulSet %d replicas", len(nodes), nodes, sts.Spec.Replicas)
	}
	for i, id := range nodes {
		if want := sts.Metadata.Name + "-" + string(rune('0'+i)); id != want {
			t.Errorf("topology node %d is %s, the pod's name is %s", i, id, want)
		}
	}
	args := sts.Spec.Template.Spec.Containers[0].Args
	if len(args) == 0 || args[0] != "agent" {
		t.Fatalf("the agent container's args %v do not run `atoll agent`", args)
	}
	for _, a := range args[1:] {
		flag, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !agentFlag(flag) {
			t.Errorf("the agent container passes --%s, which `atoll agent` does not have", flag)
		}
	}
}

// agentFlag reports whether `atoll agent` defines the flag (read from its
// source: the test does not build the binary).
func agentFlag(name string) bool {
	b, err := os.ReadFile("../../cmd/atoll/agent.go")
	if err != nil {
		return false
	}
	return bytes.Contains(b, []byte(`, "`+name+`", `))
}
