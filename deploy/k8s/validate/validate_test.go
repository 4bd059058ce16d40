// Package validate decodes deploy/k8s/site.yaml strictly into the typed
// Kubernetes API structs (k8s.io/api): an unknown or misspelt field, a
// value of the wrong type or an unknown kind fails. It is a module of its
// own so that the agent's module does not depend on k8s.io/api; .ci/run
// runs it. This is the offline part of a schema validation: the required
// fields and value ranges the API server checks (kubeconform's schemas
// need the internet, which is not reachable here) are not checked.
package validate

import (
	"os"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

func TestSiteManifestsStrict(t *testing.T) {
	b, err := os.ReadFile("../site.yaml")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for i, doc := range strings.Split(string(b), "\n---\n") {
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		var obj any
		switch meta.APIVersion + " " + meta.Kind {
		case "v1 ConfigMap":
			obj = &corev1.ConfigMap{}
		case "v1 Service":
			obj = &corev1.Service{}
		case "apps/v1 StatefulSet":
			obj = &appsv1.StatefulSet{}
		case "policy/v1 PodDisruptionBudget":
			obj = &policyv1.PodDisruptionBudget{}
		default:
			t.Fatalf("document %d: %s %s is not a kind this test knows", i, meta.APIVersion, meta.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Errorf("document %d (%s): %v", i, meta.Kind, err)
		}
		kinds[meta.Kind]++
	}
	for _, k := range []string{"ConfigMap", "Service", "StatefulSet", "PodDisruptionBudget"} {
		if kinds[k] == 0 {
			t.Errorf("site.yaml has no %s", k)
		}
	}
}
