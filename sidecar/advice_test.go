package sidecar

import (
	"testing"

	"github.com/sigv4-sidecar/sigv4-sidecar/diagnose"
)

// TestAdviceForEveryCause: every cause diagnose can report has its fix
// here (what diagnose's tests asserted of Problem.Fix before the advice left
// the pure packages), and the table holds nothing else.
func TestAdviceForEveryCause(t *testing.T) {
	declared := map[diagnose.ProblemCode]bool{}
	for _, code := range diagnose.Codes() {
		declared[code] = true
		if Advice(code) == "" {
			t.Errorf("no advice for %s", code)
		}
	}
	for code := range advice {
		if !declared[code] {
			t.Errorf("advice for %s, which diagnose does not declare", code)
		}
	}
}
