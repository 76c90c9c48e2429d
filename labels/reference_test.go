package labels

import (
	"os"
	"strings"
	"testing"
)

// TestReferenceIsComplete: every parsed label and every per-port template
// has an entry, and docs/labels.md is what Reference renders.
func TestReferenceIsComplete(t *testing.T) {
	if len(LabelReference) != 28 || len(TemplateReference) != 53 {
		t.Fatalf("%d labels and %d templates, want 28 and 53", len(LabelReference), len(TemplateReference))
	}
	listed := map[string]bool{}
	for _, e := range TemplateReference {
		listed[e.Name] = true
	}
	for name := range TemplateNames {
		if !listed[name] {
			t.Errorf("template %s is overridable but not in the reference", name)
		}
	}
	for _, e := range LabelReference {
		if suffix, ok := strings.CutPrefix(e.Name, "HAPROXY_{n}_"); ok && !isKnownSuffix(suffix) {
			t.Errorf("label %s is in the reference but not parsed", e.Name)
		}
	}
	doc, err := os.ReadFile("../docs/labels.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(doc) != Reference() {
		t.Fatal("docs/labels.md is stale: run make docs")
	}
}
