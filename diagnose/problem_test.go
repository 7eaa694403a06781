package diagnose

import (
	"reflect"
	"slices"
	"testing"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

func TestMergeProblems(t *testing.T) {
	generic := problem(CodeSignatureMismatch, "generic")
	region := problem(CodeWrongRegion, "region")
	got := codes(MergeProblems([]Problem{generic, region}, []Problem{region, problem(CodeCanonicalDiffers, "hash")}))
	if !reflect.DeepEqual(got, []ProblemCode{CodeWrongRegion, CodeCanonicalDiffers}) {
		t.Fatalf("merged %v", got)
	}
	if got := codes(MergeProblems([]Problem{generic}, []Problem{generic})); !reflect.DeepEqual(got, []ProblemCode{CodeSignatureMismatch}) {
		t.Fatalf("generic alone merged to %v", got)
	}
}

// TestEveryDefectHasACause: each kind of defect the signer's parsers report
// is turned into a declared cause, so that it reaches the advice table.
func TestEveryDefectHasACause(t *testing.T) {
	for k := signer.DefectAbsent; k <= signer.DefectMalformedSignature; k++ {
		code, ok := defectCodes[k]
		if !ok || !slices.Contains(Codes(), code) {
			t.Errorf("defect kind %d has no declared cause (%q)", k, code)
		}
	}
}
