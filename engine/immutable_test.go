package engine

import (
	"strings"
	"testing"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
)

// drc status names hidden state bundles as cadang's own (not an agency), and a missing
// lifecycle rule is a warning, not a problem.
func TestImmutabilityProblems(t *testing.T) {
	im := &api.ImmutabilityStatus{Hidden: map[string]int{"dinkes": 3, drc.StateScope: 2}, Warning: "no lifecycle rule"}
	got := immutabilityProblems("offsite", im)
	if len(got) != 2 {
		t.Fatalf("problems: %q", got)
	}
	if !strings.Contains(got[1], "3 object(s) of agency dinkes are hidden") || !strings.Contains(got[0], "2 of cadang's state bundle object(s) (_state/) are hidden") {
		t.Errorf("problems: %q", got)
	}
	for _, p := range got {
		if !strings.Contains(p, "cadang drc recover --drc offsite") {
			t.Errorf("no recover hint: %s", p)
		}
	}
	if scope, what := recoverScope(""); scope != drc.StateScope || !strings.Contains(what, "state bundles") {
		t.Errorf("recoverScope(\"\") = %q, %q", scope, what)
	}
}
